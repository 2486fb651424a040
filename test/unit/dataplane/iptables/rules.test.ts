import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { FULL_SYNC_PERIOD_MS } from '../../../../src/dataplane/full-sync.js';
import { IptablesDataplane } from '../../../../src/dataplane/iptables/index.js';
import { endpointChain, hash16, serviceChains } from '../../../../src/dataplane/iptables/names.js';
import { comment } from '../../../../src/dataplane/iptables/rules.js';
import { cleanupRestore, parseSave } from '../../../../src/dataplane/iptables/save.js';
import type { CommandRunner } from '../../../../src/dataplane/iptables/exec.js';
import type { Nfacct } from '../../../../src/dataplane/iptables/nfacct.js';
import type { DesiredState } from '../../../../src/model/index.js';
import type { ProxyConfig } from '../../../../src/config/index.js';
import { FakeIptables, tracePacket, type Packet } from './fake.js';
import { context, desired, everything, NODE, type Objects } from './states.js';

const GOLDEN = join(dirname(fileURLToPath(import.meta.url)), 'golden');

function golden(name: string, text: string): void {
  const file = join(GOLDEN, name);
  if (process.env.UPDATE_GOLDEN) writeFileSync(file, text);
  expect(text).toBe(readFileSync(file, 'utf8'));
}

/** The dataplane over two fake kernels (IPv4, IPv6), recording every restore input and sysctl. */
interface RigOptions {
  /** route_localnet cannot be set. */
  refuseSysctl?: boolean;
  nfacct?: Nfacct | null;
  /** iptables or the kernel has no nfacct match: a restore using it fails. */
  refuseNfacctMatch?: boolean;
}

function rig(ctx = context(), backend: 'nft' | 'legacy' = 'nft', now: () => number = Date.now, { refuseSysctl = false, nfacct = null, refuseNfacctMatch = false }: RigOptions = {}) {
  const kernels = { 4: new FakeIptables(), 6: new FakeIptables() };
  const restores: { family: 4 | 6; text: string }[] = [];
  /** conntrack deletions (-R lines, -D arguments); `listings`, the reconciler's -L runs (of an empty table). */
  const conntrack: string[] = [];
  const listings: string[] = [];
  const sysctls: string[] = [];
  const runner: CommandRunner = async (argv, stdin) => {
    if (argv[0] === 'sysctl') {
      sysctls.push(argv.slice(1).join(' '));
      return refuseSysctl ? { status: 255, stdout: '', stderr: 'sysctl: permission denied on key "net.ipv4.conf.all.route_localnet"' } : { status: 0, stdout: '', stderr: '' };
    }
    if (argv[0] === 'conntrack' && argv[1] === '-L') {
      listings.push(argv.slice(1).join(' '));
      return { status: 0, stdout: '', stderr: 'conntrack v1.4.7 (conntrack-tools): 0 flow entries have been shown.' };
    }
    if (argv[0] === 'conntrack') {
      conntrack.push(...(argv[1] === '-R' ? readFileSync(argv[2]!, 'utf8').split('\n').filter(Boolean) : [argv.slice(1).join(' ')]));
      return { status: 0, stdout: '', stderr: '' };
    }
    const family = argv[0]!.startsWith('ip6') ? 6 : 4;
    const k = kernels[family];
    if (argv[0]!.endsWith('-save')) return { status: 0, stdout: k.save(), stderr: '' };
    const list = argv.indexOf('-S');
    if (list > 0) {
      const ok = k.hasChain(argv[argv.indexOf('-t') + 1]!, argv[list + 1]!);
      return ok ? { status: 0, stdout: '', stderr: '' } : { status: 1, stdout: '', stderr: 'iptables: No chain/target/match by that name.' };
    }
    if (argv.includes('--version')) return { status: 0, stdout: 'iptables v1.8.9 (fake)', stderr: '' };
    if (refuseNfacctMatch && (stdin ?? '').includes('-m nfacct')) return { status: 2, stdout: '', stderr: 'iptables-restore v1.8.9 (nf_tables): Couldn\'t load match `nfacct\'' };
    // The mangle canary's and the nfacct probe's own restores are not part of what the tests look at.
    if (!(stdin ?? '').startsWith('*mangle\n') && !(stdin ?? '').includes('KUBE-NFACCT-PROBE')) restores.push({ family, text: stdin ?? '' });
    try {
      k.restore(stdin ?? '');
      return { status: 0, stdout: '', stderr: '' };
    } catch (e) {
      return { status: 1, stdout: '', stderr: (e as Error).message };
    }
  };
  const dp = new IptablesDataplane(ctx, { backend, runner, now, nfacct });
  return { dp, kernels, restores, conntrack, listings, sysctls, runner };
}

async function fullSync(state: DesiredState, ctx = context(), rigOpts: RigOptions = {}) {
  const r = rig(ctx, 'nft', Date.now, rigOpts);
  await r.dp.start();
  await r.dp.apply({ state, changed: 'all' });
  return r;
}

/** Tables as sorted "table chain: rule" lines, for comparing kernels reached by different paths. */
function contents(k: FakeIptables): string[] {
  const out: string[] = [];
  for (const [t, chains] of k.tables) for (const [c, rules] of chains) out.push(`${t} ${c}:`, ...rules.map((r) => `${t} ${c}: ${r.join(' ')}`));
  return out.sort();
}

describe('iptables chain names', () => {
  it('match kube-proxy (proxier_test.go)', () => {
    expect(serviceChains('ns1/svc1:p80', 'tcp').svc).toBe('KUBE-SVC-XPGD46QRK7WJZT7O');
    expect(endpointChain('ns1/svc1:p80', 'tcp', '10.180.0.1:80')).toBe('KUBE-SEP-SXIVWICOYRO3J4NJ');
    expect(hash16('')).toHaveLength(16);
  });

  it('comments cannot break out of their quotes', () => {
    expect(comment('a"b\n-A INPUT -j DROP')).toEqual(['-m', 'comment', '--comment', '"a_b_-A INPUT -j DROP"']);
  });
});

describe('iptables restore input (golden files)', () => {
  it('a plain ClusterIP service', async () => {
    const { restores } = await fullSync(desired({ services: [everything().services[0]!], endpointSlices: [everything().endpointSlices[0]!] }));
    expect(restores.map((r) => r.family)).toEqual([4]);
    golden('basic.txt', restores[0]!.text);
  });

  it('every frontend kind and policy, both families', async () => {
    const { restores, kernels } = await fullSync(desired(everything()));
    expect(restores.map((r) => r.family)).toEqual([4, 6]);
    golden('everything-v4.txt', restores[0]!.text);
    golden('everything-v6.txt', restores[1]!.text);
    expect(kernels[4].checkJumps()).toEqual([]);
    expect(kernels[6].checkJumps()).toEqual([]);
  });

  it('--masquerade-all and two clusterCIDRs of a family', async () => {
    const all = await fullSync(buildWith({ masqueradeAll: true }));
    expect(all.restores[0]!.text).toContain('-A KUBE-SVC-');
    expect(all.restores[0]!.text).toMatch(/cluster IP" -m tcp -p tcp -d 10\.96\.0\.10\/32 --dport 80 -j KUBE-MARK-MASQ/);
    const two = await fullSync(buildWith({ clusterCIDRs: ['10.244.0.0/16', '10.245.0.0/16'] }));
    expect(two.restores[0]!.text).toContain('-A KUBE-MASQ-OFF-CLUSTER -s 10.245.0.0/16 -j RETURN');
    expect(two.kernels[4].checkJumps()).toEqual([]);
    for (const [src, masq] of [['10.244.1.9', false], ['10.245.1.9', false], ['192.168.77.100', true]] as const) {
      expect(tracePacket(two.kernels[4], { sourceIP: src, protocol: 'tcp', destIP: '10.96.0.10', destPort: 80 }, NODE.nodeAddresses).masq).toBe(masq);
    }
  });

  it('two clusterCIDRs of a family: every full sync after the first keeps KUBE-MASQ-OFF-CLUSTER, which its rules jump to', async () => {
    let clock = 0;
    const r = rig(context(), 'nft', () => clock);
    const two = buildWith({ clusterCIDRs: ['10.244.0.0/16', '10.245.0.0/16'] });
    await r.dp.start();
    await r.dp.apply({ state: two, changed: 'all' });
    const masq = (src: string) => tracePacket(r.kernels[4], { sourceIP: src, protocol: 'tcp', destIP: '10.96.0.10', destPort: 80 }, NODE.nodeAddresses).masq;
    // The hourly full sync: a `-X` of the chain failed the whole nat restore, and every one after it.
    clock += FULL_SYNC_PERIOD_MS;
    await r.dp.apply({ state: two, changed: 'all' });
    const v4 = r.restores.filter((x) => x.family === 4);
    expect(v4).toHaveLength(2);
    expect(v4[1]!.text).not.toContain('-X KUBE-MASQ-OFF-CLUSTER');
    expect(r.kernels[4].checkJumps()).toEqual([]);
    expect([masq('10.245.1.9'), masq('192.168.77.100')]).toEqual([false, true]);
    // A restart over the same tables: its first sync is full too.
    const again = new IptablesDataplane(context(), { backend: 'nft', runner: r.runner, now: () => clock, nfacct: null });
    await again.start();
    await again.apply({ state: two, changed: 'all' });
    expect(r.kernels[4].checkJumps()).toEqual([]);
    // Down to one CIDR, nothing jumps to the chain any more, and it goes.
    clock += FULL_SYNC_PERIOD_MS;
    await again.apply({ state: buildWith({ clusterCIDRs: ['10.244.0.0/16'] }), changed: 'all' });
    expect(r.restores.filter((x) => x.family === 4).at(-1)!.text).toContain('-X KUBE-MASQ-OFF-CLUSTER');
    expect(r.kernels[4].hasChain('nat', 'KUBE-MASQ-OFF-CLUSTER')).toBe(false);
    expect([masq('10.245.1.9'), masq('10.244.1.9')]).toEqual([true, false]);
  });

  it('an interface detector (InterfaceNamePrefix, BridgeInterface): pods are what comes in there, whatever the CIDRs say', async () => {
    const prefix = await fullSync(buildWith({ podInterface: { name: 'cali', prefix: true } }));
    const text = prefix.restores[0]!.text;
    expect(text).toMatch(/cluster IP" -m tcp -p tcp -d 10\.96\.0\.10\/32 --dport 80 ! -i cali\+ -j KUBE-MARK-MASQ/);
    expect(text).toMatch(/pod traffic for \S+ external destinations" -i cali\+ -j KUBE-SVC-/);
    expect(text).not.toMatch(/-s 10\.244\.0\.0\/16/);
    const pkt = (sourceIP: string, inInterface?: string) => ({ sourceIP, protocol: 'tcp' as const, destIP: '10.96.0.10', destPort: 80, ...(inInterface ? { inInterface } : {}) });
    for (const [p, masq] of [[pkt('10.244.1.9', 'cali12ab'), false], [pkt('10.244.1.9', 'eth0'), true], [pkt('192.168.77.100', 'cali9'), false], [pkt(NODE.nodeAddresses[0]!), true]] as const) {
      expect(tracePacket(prefix.kernels[4], p, NODE.nodeAddresses).masq, JSON.stringify(p)).toBe(masq);
    }
    // eTP Local with endpoints elsewhere only: a pod still reaches them (the short-circuit), anyone else is dropped.
    const toNodePort = (sourceIP: string, inInterface: string) => ({ sourceIP, protocol: 'tcp' as const, destIP: NODE.nodeAddresses[0]!, destPort: 30083, inInterface });
    expect(tracePacket(prefix.kernels[4], toNodePort('192.168.77.100', 'cali9'), NODE.nodeAddresses).output).toBe('10.244.2.5:8080');
    expect(tracePacket(prefix.kernels[4], toNodePort('10.244.1.9', 'eth0'), NODE.nodeAddresses).output).toBe('DROP');
    const bridge = await fullSync(buildWith({ podInterface: { name: 'cbr0', prefix: false } }));
    expect(bridge.restores[0]!.text).toMatch(/--dport 80 ! -i cbr0 -j KUBE-MARK-MASQ/);
    expect(tracePacket(bridge.kernels[4], pkt('10.244.1.9', 'cbr01'), NODE.nodeAddresses).masq).toBe(true);
  });

  it('conntrack liberal about TCP windows (nf_conntrack_tcp_be_liberal): no ct-INVALID drop, as kube-proxy', async () => {
    const invalid = /-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP/;
    expect((await fullSync(desired(everything()))).restores[0]!.text).toMatch(invalid);
    const liberal = await fullSync(desired(everything()), { ...context(), conntrackTcpLiberal: true });
    expect(liberal.restores[0]!.text).not.toMatch(invalid);
    expect(liberal.restores[0]!.text).toMatch(/-A KUBE-FORWARD .*--ctstate RELATED,ESTABLISHED -j ACCEPT/);
  });

  it('large-cluster mode drops comments', async () => {
    const o = everything();
    const many = Array.from({ length: 1001 }, (_, i) => ({ addresses: [`10.250.${i >> 8}.${i & 255}`], conditions: { ready: true } }));
    o.endpointSlices[0] = { ...o.endpointSlices[0]!, endpoints: many };
    const { restores, kernels } = await fullSync(desired(o));
    expect(restores[0]!.text.split('\n').filter((l) => l.startsWith('-A') && l.includes('--comment'))).toEqual([]);
    expect(kernels[4].checkJumps()).toEqual([]);
  });
});

describe('where NodePorts are served: kube-proxy\'s addrtype LOCAL, per family, unless nodePortAddresses names that family', () => {
  it('unset: one addrtype LOCAL jump per family (without ::1); a family named in nodePortAddresses gets one jump per selected address', async () => {
    const jumps = (text: string) => text.split('\n').filter((l) => l.startsWith('-A KUBE-SERVICES') && l.endsWith('-j KUBE-NODEPORTS')).map((l) => l.replace(/.*this chain" /, ''));
    const unset = await fullSync(desired(everything()), context({ iptablesLocalhostNodePorts: false, nodePortAddresses: [] }));
    expect(jumps(unset.restores[0]!.text)).toEqual(['-m addrtype --dst-type LOCAL ! -d 127.0.0.0/8 -j KUBE-NODEPORTS']);
    expect(jumps(unset.restores[1]!.text)).toEqual(['-m addrtype --dst-type LOCAL ! -d ::1/128 -j KUBE-NODEPORTS']);
    const v6only = await fullSync(desired(everything()), context({ iptablesLocalhostNodePorts: false, nodePortAddresses: ['fd00::/64'] }));
    expect(jumps(v6only.restores[0]!.text)).toEqual(['-m addrtype --dst-type LOCAL ! -d 127.0.0.0/8 -j KUBE-NODEPORTS']);
    expect(jumps(v6only.restores[1]!.text).some((j) => j.includes('addrtype'))).toBe(false);
    const primary = await fullSync(desired(everything()), context({ nodePortAddresses: ['primary'] }));
    expect(jumps(primary.restores[0]!.text).every((j) => j.startsWith('-d '))).toBe(true);
  });
});

describe('localhost NodePorts (iptables.localhostNodePorts, kube-proxy\'s default)', () => {
  // 127.0.0.0/8 reaches KUBE-NODEPORTS: by its own jump (nodePortAddresses given), or in every
  // local address (unset: kube-proxy's addrtype LOCAL, which otherwise leaves it out).
  const localnetJump = /-A KUBE-SERVICES (?!.*! -d 127\.0\.0\.0\/8).*(-d 127\.0\.0\.0\/8|--dst-type LOCAL) -j KUBE-NODEPORTS/;
  const martianDrop = '-A KUBE-FIREWALL -m comment --comment "block incoming localnet connections" -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP';

  it('IPv4: route_localnet set in the namespace, 127.0.0.0/8 jumps to KUBE-NODEPORTS, KUBE-FIREWALL drops what comes to it from elsewhere; kept by partial syncs', async () => {
    const r = await fullSync(desired(everything()), context({ iptablesLocalhostNodePorts: true, nodePortAddresses: [] }));
    expect(r.sysctls).toEqual(['-w net.ipv4.conf.all.route_localnet=1']);
    const [v4, v6] = r.restores.map((x) => x.text);
    expect(v4).toMatch(localnetJump);
    expect(v4).toContain(martianDrop);
    // Declared before the jumps into it, which iptables-restore needs.
    for (const from of ['INPUT', 'OUTPUT']) expect(v4!.indexOf(':KUBE-FIREWALL - [0:0]')).toBeLessThan(v4!.indexOf(`-I ${from} 1 -j KUBE-FIREWALL`));
    expect(v4!.indexOf(':KUBE-FIREWALL - [0:0]')).toBeGreaterThan(-1);
    expect(v6).not.toMatch(/KUBE-FIREWALL|127\.0\.0\.0/);
    expect(r.kernels[4].checkJumps()).toEqual([]);
    // A partial sync that rewrites KUBE-SERVICES writes the jump again.
    const o = everything();
    o.services = o.services.filter((s) => (s.metadata as { name: string }).name !== 'empty');
    await r.dp.apply({ state: desired(o), changed: new Set([...desired(everything()).services.keys()].filter((k) => !desired(o).services.has(k))) });
    expect(r.restores.at(-1)!.text).toMatch(localnetJump);
    expect(contents(r.kernels[4]).some((l) => / KUBE-SERVICES: (?!.*! -d 127).*--dst-type LOCAL -j KUBE-NODEPORTS/.test(l))).toBe(true);
  });

  it('off when set false, when nodePortAddresses leaves out 127.0.0.1 ("primary", other CIDRs), or when route_localnet cannot be set (said); every Service is written either way', async () => {
    const off = async (over: Partial<ProxyConfig>, refuse = false) => {
      const log = memoryLogger();
      const r = await fullSync(desired(everything()), { ...context({ iptablesLocalhostNodePorts: true, nodePortAddresses: [], ...over }), log }, { refuseSysctl: refuse });
      const v4 = r.restores[0]!.text;
      expect(v4, JSON.stringify(over)).not.toMatch(localnetJump);
      expect(v4).not.toContain('KUBE-FIREWALL');
      expect(v4).toMatch(/-A KUBE-NODEPORTS .*--dport 30080/);
      return { r, log };
    };
    expect((await off({ iptablesLocalhostNodePorts: false })).r.sysctls).toEqual([]);
    expect((await off({ nodePortAddresses: ['primary'] })).r.sysctls).toEqual([]);
    expect((await off({ nodePortAddresses: ['192.168.0.0/16', 'fd00::/64'] })).r.sysctls).toEqual([]);
    const refused = await off({}, true);
    expect(refused.log.lines.some((l) => l.level === 'warn' && /localhost NodePorts off: cannot set net\.ipv4\.conf\.all\.route_localnet/.test(String(l.msg)))).toBe(true);
    // A loopback CIDR keeps them; so do IPv6 CIDRs alone, which leave IPv4 every address (kube-proxy decides per family).
    for (const nodePortAddresses of [['127.0.0.0/8', '192.168.0.0/16'], ['127.0.0.5/32'], ['fd00::/64']]) {
      const lo = await fullSync(desired(everything()), context({ iptablesLocalhostNodePorts: true, nodePortAddresses }));
      expect(lo.restores[0]!.text, nodePortAddresses.join(',')).toMatch(localnetJump);
    }
  });
});

describe('kube-proxy\'s packet-counting metrics (nfacct counters)', () => {
  /** Counters as the kernel keeps them: made once, counting on. */
  const fakeNfacct = (refuse = false) => {
    const made = new Map<string, number>();
    const nfacct: Nfacct = {
      ensure(name) {
        if (refuse) throw new Error('nfacct: Operation not supported');
        if (!made.has(name)) made.set(name, 0);
      },
      packets(name) {
        const n = made.get(name);
        if (n === undefined) throw new Error(`${name}: No such file or directory`);
        return n;
      },
    };
    return { nfacct, made };
  };

  it('the ct-INVALID drop and the localhost NodePort rules feed kube-proxy\'s counters, which the metrics read', async () => {
    const { nfacct, made } = fakeNfacct();
    const r = await fullSync(desired(everything()), context({ iptablesLocalhostNodePorts: true, nodePortAddresses: [] }), { nfacct });
    expect([...made.keys()].sort()).toEqual(['ct_state_invalid_dropped_pkts', 'localhost_nps_accepted_pkts']);
    const [v4, v6] = r.restores.map((x) => x.text);
    expect(v4).toContain('-A KUBE-FORWARD -m conntrack --ctstate INVALID -m nfacct --nfacct-name ct_state_invalid_dropped_pkts -j DROP');
    expect(v6).toContain('-A KUBE-FORWARD -m conntrack --ctstate INVALID -m nfacct --nfacct-name ct_state_invalid_dropped_pkts -j DROP');
    // The counted 127.0.0.0/8 rule first, then the NodePort's own, to the same chain (IPv4 only).
    const np = v4!.split('\n').filter((l) => l.startsWith('-A KUBE-NODEPORTS') && l.includes('--dport 30080 '));
    expect(np).toHaveLength(2);
    expect(np[0]).toMatch(/^-A KUBE-NODEPORTS -d 127\.0\.0\.0\/8 .*-m nfacct --nfacct-name localhost_nps_accepted_pkts -j (KUBE-EXT-\S+)$/);
    expect(np[1]!.endsWith(np[0]!.slice(np[0]!.lastIndexOf(' -j ')))).toBe(true);
    expect(v6).not.toContain('localhost_nps_accepted_pkts');
    made.set('ct_state_invalid_dropped_pkts', 3);
    made.set('localhost_nps_accepted_pkts', 12);
    const m = r.dp.kernelMetrics();
    expect(m.kubeproxy_iptables_ct_state_invalid_dropped_packets_total?.samples).toEqual([{ labels: {}, value: 3 }]);
    expect(m.kubeproxy_iptables_localhost_nodeports_accepted_packets_total?.samples).toEqual([{ labels: {}, value: 12 }]);
    // The start's scratch chain, which showed the match works, is gone.
    expect(r.kernels[4].hasChain('filter', 'KUBE-NFACCT-PROBE')).toBe(false);
  });

  it('counters but no nfacct match (xt_nfacct, libxt_nfacct): found by a scratch chain at start, so the rules go without the match instead of every restore failing', async () => {
    const { nfacct } = fakeNfacct();
    const log = memoryLogger();
    const r = await fullSync(desired(everything()), { ...context({ iptablesLocalhostNodePorts: true, nodePortAddresses: [] }), log }, { nfacct, refuseNfacctMatch: true });
    expect(r.restores.map((x) => x.family)).toEqual([4, 6]);
    expect(r.restores[0]!.text).not.toContain('nfacct');
    expect(r.restores[0]!.text).toMatch(/-A KUBE-SERVICES .*--dst-type LOCAL -j KUBE-NODEPORTS/);
    expect(Object.keys(r.dp.kernelMetrics()).filter((k) => k.startsWith('kubeproxy_iptables_'))).toEqual([]);
    expect(log.lines.some((l) => /no nfacct match/.test(String(l.msg)))).toBe(true);
    // The scratch chain is gone again.
    expect(r.kernels[4].hasChain('filter', 'KUBE-NFACCT-PROBE')).toBe(false);
  });

  it('without nfacct in the kernel: no match in any rule and no metric, everything else written; without localhost NodePorts both counters and metrics still, as kube-proxy\'s, and no localhost rule', async () => {
    const none = await fullSync(desired(everything()), context({ iptablesLocalhostNodePorts: true, nodePortAddresses: [] }), { nfacct: fakeNfacct(true).nfacct });
    expect(none.restores[0]!.text).not.toContain('nfacct');
    expect(none.restores[0]!.text).toContain('-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP');
    expect(Object.keys(none.dp.kernelMetrics()).filter((k) => k.startsWith('kubeproxy_iptables_'))).toEqual([]);
    const { nfacct, made } = fakeNfacct();
    const noLocal = await fullSync(desired(everything()), context({ iptablesLocalhostNodePorts: false }), { nfacct });
    expect([...made.keys()].sort()).toEqual(['ct_state_invalid_dropped_pkts', 'localhost_nps_accepted_pkts']);
    expect(noLocal.restores[0]!.text).not.toContain('localhost_nps_accepted_pkts');
    expect(noLocal.dp.kernelMetrics().kubeproxy_iptables_localhost_nodeports_accepted_packets_total?.samples).toEqual([{ labels: {}, value: 0 }]);
  });
});

describe('periodic syncs and the canary', () => {
  const changeNp = (o: Objects) => {
    o.endpointSlices[1] = { ...o.endpointSlices[1]!, endpoints: [(o.endpointSlices[1]!.endpoints as unknown[])[0]] };
    return o;
  };

  it('a periodic sync with the canaries in place writes only what differs from what we wrote', async () => {
    const r = await fullSync(desired(everything()));
    expect(r.kernels[4].hasChain('mangle', 'KUBE-PROXY-CANARY')).toBe(true);
    expect(r.kernels[6].hasChain('nat', 'KUBE-PROXY-CANARY')).toBe(true);
    r.restores.length = 0;
    await r.dp.apply({ state: desired(everything()), changed: 'all' });
    expect(r.restores).toEqual([]);
    expect(r.dp.lastSync.every((s) => !s.full && s.servicesWritten === 0)).toBe(true);

    const after = desired(changeNp(everything()));
    await r.dp.apply({ state: after, changed: 'all' });
    expect(r.restores.map((x) => x.family)).toEqual([4]);
    expect(r.dp.lastSync.map((s) => [s.family, s.full, s.servicesWritten])).toEqual([[4, false, 1], [6, false, 0]]);
    const fresh = await fullSync(after);
    expect(contents(r.kernels[4])).toEqual(contents(fresh.kernels[4]));
  });

  it('a missing canary (someone flushed the tables), a failure or an hour since the last full sync: full again', async () => {
    let clock = 0;
    const r = rig(context(), 'nft', () => clock);
    await r.dp.start();
    await r.dp.apply({ state: desired(everything()), changed: 'all' });
    const full = () => r.dp.lastSync.length > 0 && r.dp.lastSync.every((s) => s.full);

    // Someone flushes nat and deletes its chains: our rules are gone, and the canary with them.
    for (const c of r.kernels[4].chains('nat')) r.kernels[4].tables.get('nat')!.delete(c);
    for (const c of ['PREROUTING', 'OUTPUT', 'POSTROUTING']) r.kernels[4].tables.get('nat')!.set(c, []);
    await r.dp.apply({ state: desired(everything()), changed: 'all' });
    expect(full()).toBe(true);
    const fresh = await fullSync(desired(everything()));
    expect(contents(r.kernels[4])).toEqual(contents(fresh.kernels[4]));

    clock += FULL_SYNC_PERIOD_MS - 1;
    await r.dp.apply({ state: desired(everything()), changed: 'all' });
    expect(full()).toBe(false);
    clock += 2;
    await r.dp.apply({ state: desired(everything()), changed: 'all' });
    expect(full()).toBe(true);
  });
});

describe('the mangle canary', () => {
  it('a kernel that refuses it does not fail the sync; periodic syncs are then full', async () => {
    const log = memoryLogger();
    const ctx = { ...context(), log };
    const r = rig(ctx);
    const orig = r.kernels[4].restore.bind(r.kernels[4]);
    r.kernels[4].restore = (text: string) => {
      if (text.startsWith('*mangle')) throw new Error("can't initialize iptables table `mangle'");
      orig(text);
    };
    await r.dp.start();
    await r.dp.apply({ state: desired(everything()), changed: 'all' });
    expect(log.lines.some((l) => String(l.msg).startsWith('cannot create the mangle canary'))).toBe(true);
    await r.dp.apply({ state: desired(everything()), changed: 'all' });
    expect(r.dp.lastSync.every((s) => s.full)).toBe(true);
  });
});

describe('restore input shaped for each backend', () => {
  const natLines = (text: string) => text.slice(text.indexOf('*nat\n')).split('\n');
  const serviceChainDecls = (lines: string[]) => lines.filter((l) => /^:KUBE-(SVC|SVL|EXT|FW|SEP)-/.test(l));

  it('nft: a full sync lists the nat table once, after the jumps into built-in chains and before the service chains', async () => {
    const { restores } = await fullSync(desired(everything()));
    for (const { text } of restores) {
      expect(text.split('\n').filter((l) => l === '-S')).toHaveLength(1);
      const nat = natLines(text);
      const at = nat.indexOf('-S');
      expect(at).toBeGreaterThan(0);
      const lastJump = nat.map((l) => /^-[IA] (PREROUTING|INPUT|OUTPUT|POSTROUTING) /.test(l)).lastIndexOf(true);
      expect(lastJump).toBeLessThan(at);
      expect(nat.indexOf(serviceChainDecls(nat)[0]!)).toBeGreaterThan(at);
    }
  });

  it('nft: a partial sync does not list the table', async () => {
    const o = everything();
    const r = await fullSync(desired(o));
    r.restores.length = 0;
    o.endpointSlices[1] = { ...o.endpointSlices[1]!, endpoints: [(o.endpointSlices[1]!.endpoints as unknown[])[0]] };
    await r.dp.apply({ state: desired(o), changed: new Set(['default/np:http']) });
    expect(r.restores).toHaveLength(1);
    expect(r.restores[0]!.text.split('\n')).not.toContain('-S');
  });

  it.each(['nft', 'legacy'] as const)('%s: an endpoint change rewrites only that service\'s chains, not the shared ones', async (backend) => {
    const o = everything();
    const r = rig(context(), backend);
    await r.dp.start();
    await r.dp.apply({ state: desired(o), changed: 'all' });
    r.restores.length = 0;
    o.endpointSlices[1] = { ...o.endpointSlices[1]!, endpoints: [(o.endpointSlices[1]!.endpoints as unknown[])[0], { addresses: ['10.244.2.9'], conditions: { ready: true }, nodeName: 'node-b' }] };
    const after = desired(o);
    await r.dp.apply({ state: after, changed: new Set(['default/np:http']) });
    const lines = r.restores[0]!.text.split('\n');
    expect(lines).not.toContain('*filter');
    const np = serviceChains('default/np:http', 'tcp');
    // Every chain the restore names belongs to np (or is the masquerade mark it jumps to).
    const named = new Set(lines.flatMap((l) => [...l.matchAll(/(?:^:|^-[AX] |-j )(KUBE-[A-Z0-9-]+)/g)].map((m) => m[1]!)));
    expect([...named].filter((c) => !c.endsWith(np.svc.slice('KUBE-SVC-'.length)) && !c.startsWith('KUBE-SEP-') && c !== 'KUBE-MARK-MASQ')).toEqual([]);
    expect(r.kernels[4].checkJumps()).toEqual([]);
    const fresh = await fullSync(after);
    expect(contents(r.kernels[4])).toEqual(contents(fresh.kernels[4]));
  });

  it('nft: KUBE-SERVICES and KUBE-NODEPORTS jump in descending target order, the node-port jumps last', async () => {
    // One node-port jump per node address, as with nodePortAddresses given.
    const r = await fullSync(desired(everything()), context({ nodePortAddresses: ['0.0.0.0/0', '::/0'] }));
    const nat = natLines(r.restores[0]!.text);
    const targets = (chain: string) => nat.filter((l) => l.startsWith(`-A ${chain} `)).map((l) => l.slice(l.lastIndexOf(' -j ') + 4));
    const services = targets('KUBE-SERVICES');
    expect(services.slice(-2)).toEqual(['KUBE-NODEPORTS', 'KUBE-NODEPORTS']);
    expect(services.slice(0, -2)).toEqual([...services.slice(0, -2)].sort().reverse());
    expect(services.length).toBeGreaterThan(8);
    expect(targets('KUBE-NODEPORTS')).toEqual([...targets('KUBE-NODEPORTS')].sort().reverse());
  });

  it('a partial sync that adds a service rewrites the shared chains', async () => {
    const o = everything();
    const r = await fullSync(desired({ ...o, services: o.services.filter((s) => (s.metadata as { name: string }).name !== 'web') }));
    r.restores.length = 0;
    await r.dp.apply({ state: desired(o), changed: new Set(['default/web:http']) });
    const lines = r.restores[0]!.text.split('\n');
    expect(lines).toContain(':KUBE-SERVICES - [0:0]');
    const fresh = await fullSync(desired(o));
    expect(contents(r.kernels[4])).toEqual(contents(fresh.kernels[4]));
  });

  it('legacy: no listing, and service chains declared in descending name order', async () => {
    const r = rig(context(), 'legacy');
    await r.dp.start();
    await r.dp.apply({ state: desired(everything()), changed: 'all' });
    const text = r.restores[0]!.text;
    expect(text.split('\n')).not.toContain('-S');
    const decls = serviceChainDecls(natLines(text));
    expect(decls.length).toBeGreaterThan(10);
    expect(decls).toEqual([...decls].sort().reverse());
    expect(r.kernels[4].checkJumps()).toEqual([]);
  });
});

function buildWith(node: Partial<typeof NODE>): DesiredState {
  const { buildDesiredState } = requireModel;
  const r = buildDesiredState({ ...everything(), node: { ...NODE, ...node } });
  return r.state;
}
import * as requireModel from '../../../../src/model/index.js';
import { memoryLogger } from '../../../../src/observe/index.js';

describe('partial syncs', () => {
  function changedKeys(a: DesiredState, b: DesiredState): Set<string> {
    const keys = new Set<string>();
    for (const k of new Set([...a.services.keys(), ...b.services.keys()])) {
      if (JSON.stringify(a.services.get(k)) !== JSON.stringify(b.services.get(k))) keys.add(k);
    }
    return keys;
  }

  const next = (): Objects => {
    const o = everything();
    // np: one endpoint replaced; empty: deleted; sticky: scaled to one endpoint.
    o.endpointSlices[1] = { ...o.endpointSlices[1]!, endpoints: [(o.endpointSlices[1]!.endpoints as unknown[])[0], { addresses: ['10.244.2.9'], conditions: { ready: true }, nodeName: 'node-b' }] };
    o.services = o.services.filter((s) => (s.metadata as { name: string }).name !== 'empty');
    o.endpointSlices[3] = { ...o.endpointSlices[3]!, endpoints: [(o.endpointSlices[3]!.endpoints as unknown[])[0]] };
    return o;
  };

  it('write the shared chains and only the changed services\' chains, and end where a full sync would', async () => {
    const before = desired(everything());
    const after = desired(next());
    const r = await fullSync(before);
    const changed = changedKeys(before, after);
    expect([...changed].sort()).toEqual(['default/empty:http', 'default/np:http', 'default/sticky:http']);
    r.restores.length = 0;
    await r.dp.apply({ state: after, changed });
    expect(r.restores.map((x) => x.family)).toEqual([4]);
    const text = r.restores[0]!.text;
    golden('partial-v4.txt', text);
    const declared = text.split('\n').filter((l) => l.startsWith(':')).map((l) => l.slice(1).split(' ')[0]!);
    const np = serviceChains('default/np:http', 'tcp');
    const web = serviceChains('default/web:http', 'tcp');
    expect(declared).toContain(np.svc);
    expect(declared).not.toContain(web.svc);
    expect(text).toContain(`-X ${endpointChain('default/np:http', 'tcp', '10.244.2.2:8080')}`);
    expect(text).toContain(`-X ${endpointChain('default/sticky:http', 'tcp', '10.244.2.4:8080')}`);
    expect(r.kernels[4].checkJumps()).toEqual([]);

    const fresh = await fullSync(after);
    expect(contents(r.kernels[4])).toEqual(contents(fresh.kernels[4]));
  });

  it('a full sync deletes chains nothing uses any more (a previous instance\'s leftovers) and re-adds lost jumps', async () => {
    const r = await fullSync(desired(everything()));
    // A new instance (kill -9 and restart) with fewer services: it starts from the kernel, not memory.
    const again = rig();
    again.kernels[4] = r.kernels[4];
    again.kernels[6] = r.kernels[6];
    // Someone deleted one of our jumps.
    const nat = r.kernels[4].tables.get('nat')!;
    nat.set('PREROUTING', []);
    await again.dp.start();
    await again.dp.apply({ state: next4(), changed: 'all' });
    expect(again.kernels[4].checkJumps()).toEqual([]);
    const fresh = await fullSync(next4());
    expect(contents(again.kernels[4])).toEqual(contents(fresh.kernels[4]));
    // The IPv6 table had dual's chains; with no IPv6 service left they are deleted too.
    expect(again.kernels[6].chains('nat').filter((c) => /KUBE-(SVC|SEP|EXT)-/.test(c))).toEqual([]);
  });

  it('a failed restore makes the next sync full', async () => {
    const before = desired(everything());
    const r = await fullSync(before);
    const orig = r.kernels[4].restore.bind(r.kernels[4]);
    r.kernels[4].restore = () => {
      throw new Error('boom');
    };
    const after = desired(next());
    const metric = (name: string) => r.dp.kernelMetrics()[name]!.samples;
    // The full sync's rules by table, both families: the -A lines of its two restores.
    const appended = { filter: 0, nat: 0 };
    for (const x of r.restores) for (const part of x.text.split(/^\*/m).slice(1)) appended[part.startsWith('nat') ? 'nat' : 'filter'] += part.split('\n').filter((l) => l.startsWith('-A ')).length;
    expect(appended.filter).toBeGreaterThan(0);
    const lastFull = [{ labels: { table: 'filter' }, value: appended.filter }, { labels: { table: 'nat' }, value: appended.nat }];
    expect(metric('kubeproxy_sync_proxy_rules_iptables_last')).toEqual(lastFull);
    // A sync with nothing to write keeps the figure.
    await r.dp.apply({ state: before, changed: new Set(['default/np:http']) });
    expect(metric('kubeproxy_sync_proxy_rules_iptables_last')).toEqual(lastFull);
    await expect(r.dp.apply({ state: after, changed: new Set(['default/np:http']) })).rejects.toThrow(/boom/);
    // kube-proxy's failure counters: every failed restore, and those of partial syncs.
    expect(metric('kubeproxy_sync_proxy_rules_iptables_restore_failures_total')[0]!.value).toBe(1);
    expect(metric('kubeproxy_sync_proxy_rules_iptables_partial_restore_failures_total')[0]!.value).toBe(1);
    r.kernels[4].restore = orig;
    r.restores.length = 0;
    await r.dp.apply({ state: after, changed: new Set() });
    expect(r.restores[0]!.text).toContain(':KUBE-SVC-'); // every service chain: a full sync
    const fresh = await fullSync(after);
    expect(contents(r.kernels[4])).toEqual(contents(fresh.kernels[4]));
  });

  it('a failed full sync counts as a restore failure, not a partial one', async () => {
    const r = rig();
    await r.dp.start();
    r.kernels[4].restore = () => {
      throw new Error('boom');
    };
    await expect(r.dp.apply({ state: desired(everything()), changed: 'all' })).rejects.toThrow(/boom/);
    const metric = (name: string) => r.dp.kernelMetrics()[name]!.samples[0]!.value;
    expect(metric('kubeproxy_sync_proxy_rules_iptables_restore_failures_total')).toBe(1);
    expect(metric('kubeproxy_sync_proxy_rules_iptables_partial_restore_failures_total')).toBe(0);
  });

  function next4(): DesiredState {
    const o = next();
    o.services = o.services.filter((s) => (s.metadata as { name: string }).name !== 'dual');
    return desired(o);
  }
});

describe('packet flows (tracePacket)', () => {
  const NODE_IP = '192.168.1.10';
  const POD_A = '10.244.1.50'; // a pod on this node (node-a)
  const EXTERNAL = '203.0.113.7';
  const OTHER = '198.18.0.1'; // outside every source range
  interface Flow extends Packet {
    name: string;
    output: string;
    masq: boolean;
  }
  const f = (name: string, sourceIP: string, destIP: string, destPort: number, output: string, masq: boolean, protocol: Packet['protocol'] = 'tcp'): Flow =>
    ({ name, sourceIP, protocol, destIP, destPort, output, masq });

  const flows: Flow[] = [
    f('pod to ClusterIP', POD_A, '10.96.0.10', 80, '10.244.1.1:8080, 10.244.2.1:8080', false),
    f('external (routed) to ClusterIP is masqueraded', EXTERNAL, '10.96.0.10', 80, '10.244.1.1:8080, 10.244.2.1:8080', true),
    f('node to ClusterIP', NODE_IP, '10.96.0.10', 80, '10.244.1.1:8080, 10.244.2.1:8080', true),
    f('ClusterIP, wrong port', POD_A, '10.96.0.10', 81, 'PASS', false),
    f('hairpin: a backend to its own service', '10.244.1.7', '10.96.0.17', 53, '10.244.1.7:5353', true, 'udp'),
    f('UDP ClusterIP', POD_A, '10.96.0.17', 53, '10.244.1.7:5353', false, 'udp'),
    f('UDP to a TCP service', POD_A, '10.96.0.10', 80, 'PASS', false, 'udp'),
    f('NodePort eTP Cluster from outside', EXTERNAL, NODE_IP, 30080, '10.244.1.2:8080, 10.244.2.2:8080', true),
    f('NodePort on the second node address', EXTERNAL, '10.0.0.5', 30080, '10.244.1.2:8080, 10.244.2.2:8080', true),
    f('NodePort eTP Local from outside: local endpoint, source kept', EXTERNAL, NODE_IP, 30081, '10.244.1.3:8080', false),
    f('NodePort eTP Local from a pod: every endpoint (short circuit)', POD_A, NODE_IP, 30081, '10.244.1.3:8080, 10.244.2.3:8080', false),
    f('NodePort eTP Local from the node: every endpoint, masqueraded', NODE_IP, NODE_IP, 30081, '10.244.1.3:8080, 10.244.2.3:8080', true),
    f('LB VIP from an allowed range', EXTERNAL, '198.51.100.20', 80, '10.244.1.3:8080', false),
    f('LB VIP from outside the ranges: dropped', OTHER, '198.51.100.20', 80, 'DROP', false),
    f('LB VIP from the node (its range is allowed)', NODE_IP, '198.51.100.20', 80, '10.244.1.3:8080, 10.244.2.3:8080', true),
    f('health check node port is accepted', EXTERNAL, NODE_IP, 32000, 'PASS', false),
    f('session affinity service spreads first connections', POD_A, '10.96.0.13', 80, '10.244.1.4:8080, 10.244.2.4:8080', false),
    f('no endpoints: ClusterIP rejected', POD_A, '10.96.0.14', 80, 'REJECT', false),
    f('no endpoints: NodePort rejected', EXTERNAL, NODE_IP, 30082, 'REJECT', false),
    f('no endpoints: external IP rejected', EXTERNAL, '198.51.100.30', 80, 'REJECT', false),
    f('eTP Local, endpoints elsewhere only: NodePort dropped', EXTERNAL, NODE_IP, 30083, 'DROP', false),
    f('eTP Local, endpoints elsewhere only: pods still reach them', POD_A, NODE_IP, 30083, '10.244.2.5:8080', false),
    f('eTP Local, endpoints elsewhere only: ClusterIP works', POD_A, '10.96.0.15', 80, '10.244.2.5:8080', false),
    f('iTP Local without local endpoints: ClusterIP dropped', POD_A, '10.96.0.16', 80, 'DROP', false),
    f('a NodePort on an address that is not the node\'s', EXTERNAL, '192.168.1.99', 30080, 'PASS', false),
  ];

  it.each(flows)('$name', async (flow) => {
    const { kernels } = await fullSync(desired(everything()));
    const got = tracePacket(kernels[4], flow, NODE.nodeAddresses);
    expect(got).toEqual({ output: flow.output, masq: flow.masq });
  });

  it('IPv6: ClusterIP and external IP', async () => {
    const { kernels } = await fullSync(desired(everything()));
    const ips = NODE.nodeAddresses;
    expect(tracePacket(kernels[6], { sourceIP: 'fd00:244::50', protocol: 'tcp', destIP: 'fd00:96::18', destPort: 80 }, ips))
      .toEqual({ output: '[fd00:244:1::8]:8080, [fd00:244:2::8]:8080', masq: false });
    expect(tracePacket(kernels[6], { sourceIP: '2001:db8:1::7', protocol: 'tcp', destIP: '2001:db8::30', destPort: 80 }, ips))
      .toEqual({ output: '[fd00:244:1::8]:8080, [fd00:244:2::8]:8080', masq: true });
  });
});

describe('UDP conntrack cleanup', () => {
  it('after a sync reached the kernel: the flows of removed UDP endpoints, nothing for TCP or unchanged endpoints', async () => {
    const o = everything();
    o.services[1] = { ...o.services[1]!, spec: { ...(o.services[1]!.spec as object), ports: [{ name: 'http', port: 80, protocol: 'UDP', targetPort: 8080, nodePort: 30080 }] } };
    o.endpointSlices[1] = { ...o.endpointSlices[1]!, ports: [{ name: 'http', port: 8080, protocol: 'UDP' }] };
    const r = await fullSync(desired(o));
    expect(r.conntrack).toEqual([]);
    const next = structuredClone(o);
    next.endpointSlices[1] = { ...next.endpointSlices[1]!, endpoints: [(o.endpointSlices[1]!.endpoints as unknown[])[0]] };
    next.endpointSlices[7] = { ...next.endpointSlices[7]!, endpoints: [] }; // dns: every endpoint gone
    next.endpointSlices[0] = { ...next.endpointSlices[0]!, endpoints: [] }; // web is TCP: nothing
    await r.dp.apply({ state: desired(next), changed: new Set(['default/np:http', 'default/dns:dns', 'default/web:http']) });
    expect(r.conntrack.sort()).toEqual([
      ...NODE.nodeAddresses.filter((a) => !a.includes(':')).map((a) => `-D -p udp --orig-dst ${a} --orig-port-dst 30080 --reply-src 10.244.2.2 --reply-port-src 8080`),
      '-D -p udp --orig-dst 10.96.0.11 --orig-port-dst 80 --reply-src 10.244.2.2 --reply-port-src 8080',
      '-D -p udp --orig-dst 10.96.0.17 --orig-port-dst 53 --reply-src 10.244.1.7 --reply-port-src 5353',
    ].sort());
    // dns gets its endpoint back: entries made meanwhile (rejected, never DNATed) go.
    r.conntrack.length = 0;
    await r.dp.apply({ state: desired(o), changed: new Set(['default/dns:dns']) });
    expect(r.conntrack).toEqual(['-D -p udp --orig-dst 10.96.0.17 --orig-port-dst 53']);
  });

  it('not when the restore failed; the next (full) sync catches up', async () => {
    const o = everything();
    const r = await fullSync(desired(o));
    const next = structuredClone(o);
    next.endpointSlices[7] = { ...next.endpointSlices[7]!, endpoints: [] };
    const orig = r.kernels[4].restore.bind(r.kernels[4]);
    r.kernels[4].restore = () => {
      throw new Error('boom');
    };
    expect(r.listings).toEqual(['-L -p udp -f ipv4']); // the first sync of the process reconciles
    await expect(r.dp.apply({ state: desired(next), changed: new Set(['default/dns:dns']) })).rejects.toThrow(/boom/);
    expect(r.conntrack).toEqual([]);
    r.kernels[4].restore = orig;
    await r.dp.apply({ state: desired(next), changed: new Set() });
    expect(r.conntrack).toEqual(['-D -p udp --orig-dst 10.96.0.17 --orig-port-dst 53 --reply-src 10.244.1.7 --reply-port-src 5353']);
    // The sync after a failed one is full, and reconciles too; a partial one then does not.
    expect(r.listings).toEqual(['-L -p udp -f ipv4', '-L -p udp -f ipv4']);
    await r.dp.apply({ state: desired(o), changed: new Set(['default/dns:dns']) });
    expect(r.listings).toHaveLength(2);
  });
});

describe('cleanup', () => {
  it('removes our chains and jumps, keeps the user\'s rules and what the user\'s chains jump to', async () => {
    const { kernels } = await fullSync(desired(everything()));
    const k = kernels[4];
    k.restore(['*filter', ':MY-CHAIN - [0:0]', '-A INPUT -p tcp --dport 22 -j ACCEPT', '-A MY-CHAIN -j ACCEPT', 'COMMIT', ''].join('\n'));
    k.restore(['*nat', ':USER-NAT - [0:0]', '-A USER-NAT -j KUBE-MARK-MASQ', '-A POSTROUTING -j USER-NAT', ':KUBE-FIREWALL - [0:0]', 'COMMIT', ''].join('\n'));
    const plan = cleanupRestore(parseSave(k.save()))!;
    k.restore(plan.text);
    expect(k.chains('filter')).toEqual(['MY-CHAIN']);
    // KUBE-MARK-MASQ stays: the user's chain jumps to it. KUBE-FIREWALL is kubelet's, never ours.
    expect(k.chains('nat').sort()).toEqual(['KUBE-FIREWALL', 'KUBE-MARK-MASQ', 'USER-NAT']);
    expect(k.tables.get('filter')!.get('INPUT')).toEqual([['-p', 'tcp', '--dport', '22', '-j', 'ACCEPT']]);
    expect(k.tables.get('nat')!.get('POSTROUTING')).toEqual([['-j', 'USER-NAT']]);
    expect(k.tables.get('nat')!.get('PREROUTING')).toEqual([]);
    expect(cleanupRestore(parseSave(k.save()))).toBeNull();
  });
});
