// The ipvs dataplane's sync against a fake kernel: which commands, in which order, with what on
// stdin; a second identical sync writes nothing; a removed endpoint drains. No root, no kernel.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DEFAULTS } from '../../../../src/config/resolve.js';
import { chooseBackend, createIpvsDataplaneWith, systemIptablesIsLegacy } from '../../../../src/dataplane/ipvs/index.js';
import type { CommandResult } from '../../../../src/dataplane/ipvs/exec.js';
import { parseIpvsSave } from '../../../../src/dataplane/ipvs/ipvsadm.js';
import { memoryLogger } from '../../../../src/observe/index.js';
import { ep, NODE, slice, svc } from '../../model/fixtures.js';
import { state } from './states.js';

/** Just enough of ipvsadm, ipset, ip and iptables-nft to round-trip what the dataplane writes. */
class FakeKernel {
  calls: { argv: string[]; input: string }[] = [];
  ipvs: string[] = [];
  sets = new Map<string, { type: string; entries: Set<string> }>();
  device: Set<string> | null = null;
  iptables = '*nat\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n';
  /** conntrack deletions, as `conntrack -R FILE` lines. */
  conntrack: string[] = [];
  /** The UDP conntrack table, as `conntrack -L` lines. */
  conntrackTable: string[] = [];
  failSet = false;
  /** The legacy backend without iptable_mangle. */
  refuseMangle = false;

  run = async (argv: string[], input = ''): Promise<CommandResult> => {
    this.calls.push({ argv, input });
    const ok = (stdout = ''): CommandResult => ({ status: 0, stdout, stderr: '' });
    const cmd = argv.join(' ');
    if (cmd === 'ipvsadm -Sn') return ok(this.ipvs.map((l) => `${l}\n`).join(''));
    if (cmd === 'ipvsadm -Ln') {
      // Every real server idle.
      const proto: Record<string, string> = { '-t': 'TCP', '-u': 'UDP' };
      const out: string[] = [];
      for (const v of this.ipvs.filter((l) => l.startsWith('-A '))) {
        const t = v.split(' ');
        out.push(`${proto[t[1]!]}  ${t[2]} ${t[4]}`);
        for (const r of this.ipvs.filter((l) => l.startsWith(`-a ${t[1]} ${t[2]} `))) {
          const u = r.split(' ');
          out.push(`  -> ${u[u.indexOf('-r') + 1]}  Masq  ${u[u.indexOf('-w') + 1]}  0  0`);
        }
      }
      return ok(out.join('\n'));
    }
    if (cmd === 'ipvsadm --restore') {
      for (const l of input.trim().split('\n')) this.ipvsApply(l);
      return ok();
    }
    if (cmd === 'ipset save') {
      return ok([...this.sets].flatMap(([n, s]) => [`create ${n} ${s.type} family inet`, ...[...s.entries].map((e) => `add ${n} ${e}`)]).join('\n'));
    }
    if (cmd === 'ipset -exist restore') {
      for (const l of input.trim().split('\n')) {
        const [op, name, arg] = l.split(' ');
        if (op === 'create') this.sets.set(name!, this.sets.get(name!) ?? { type: arg!, entries: new Set() });
        else if (op === 'add') this.sets.get(name!)!.entries.add(arg!);
        else if (op === 'del') this.sets.get(name!)!.entries.delete(arg!);
      }
      return ok();
    }
    if (cmd === 'ip -j addr show dev ekp-ipvs0') {
      if (!this.device) return { status: 1, stdout: '', stderr: 'Device "ekp-ipvs0" does not exist.' };
      return ok(JSON.stringify([{ flags: ['BROADCAST', 'NOARP', 'UP'], addr_info: [...this.device].map((local) => ({ local, scope: 'global' })) }]));
    }
    if (cmd === 'ip -batch -' || cmd === 'ip -force -batch -') {
      for (const l of input.trim().split('\n')) {
        const t = l.split(' ');
        if (t[0] === 'link' && t[1] === 'add') this.device = new Set();
        if (t[0] === 'addr' && t[1] === 'add') this.device!.add(t[2]!.split('/')[0]!);
        if (t[0] === 'addr' && t[1] === 'del') this.device!.delete(t[2]!.split('/')[0]!);
      }
      return ok();
    }
    if (/^ip6?tables-nft-save/.test(cmd)) return ok(this.iptables);
    if (/^ip6?tables-nft-restore --noflush/.test(cmd)) {
      if (this.refuseMangle && input.startsWith('*mangle')) return { status: 1, stdout: '', stderr: 'iptables-restore: unable to initialize table \'mangle\'' };
      this.iptables += input.replace(/^-I (\S+) 1 /gm, '-A $1 ');
      return ok();
    }
    if (argv[0] === 'ipvsadm' && argv[1] === '--set') return this.failSet ? { status: 2, stdout: '', stderr: 'Operation not permitted' } : ok();
    if (cmd === 'conntrack -L -p udp -f ipv4') return ok(this.conntrackTable.map((l) => `${l}\n`).join(''));
    if (argv[0] === 'conntrack' && argv[1] === '-R') {
      const lines = readFileSync(argv[2]!, 'utf8').split('\n').filter(Boolean);
      this.conntrack.push(...lines);
      // The reconciler's lines name the original tuple: conntrack prints each entry it deletes.
      const tuple = (l: string) => /--orig-src (\S+) --orig-dst (\S+) --orig-port-src (\S+) --orig-port-dst (\S+)/.exec(l)?.slice(1).join(' ');
      const wanted = new Set(lines.map(tuple).filter(Boolean));
      const gone = this.conntrackTable.filter((l) => wanted.has(/src=(\S+) dst=(\S+) sport=(\S+) dport=(\S+)/.exec(l)!.slice(1).join(' ')));
      this.conntrackTable = this.conntrackTable.filter((l) => !gone.includes(l));
      return ok(gone.map((l) => `${l}\n`).join(''));
    }
    return { status: 127, stdout: '', stderr: `fake kernel: unknown command ${cmd}` };
  };

  private ipvsApply(line: string): void {
    const t = line.split(' ');
    const vs = `${t[1]} ${t[2]}`;
    const rs = t.indexOf('-r') > 0 ? t[t.indexOf('-r') + 1] : '';
    const isVs = (l: string) => l.startsWith(`-A ${vs} `);
    const isRs = (l: string) => l.startsWith(`-a ${vs} -r ${rs} `);
    switch (t[0]) {
      case '-A': this.ipvs.push(line); break;
      case '-E': this.ipvs = this.ipvs.map((l) => (isVs(l) ? line.replace('-E', '-A') : l)); break;
      case '-D': this.ipvs = this.ipvs.filter((l) => !isVs(l) && !l.startsWith(`-a ${vs} `)); break;
      case '-a': this.ipvs.push(line); break;
      case '-e': this.ipvs = this.ipvs.map((l) => (isRs(l) ? line.replace('-e', '-a') : l)); break;
      case '-d': this.ipvs = this.ipvs.filter((l) => !isRs(l)); break;
    }
  }

  since(n: number) {
    return this.calls.slice(n).map((c) => c.argv.join(' '));
  }
}

const a = (ip: string) => ep(ip, { ready: true, node: 'node-a' });
const web = (ips: string[]) =>
  state(
    [svc({ name: 'web', spec: { type: 'NodePort', ports: [{ name: 'http', port: 80, protocol: 'TCP', targetPort: 8080, nodePort: 30080 }] } })],
    [slice({ service: 'web', endpoints: ips.map(a) })],
    { ...NODE, nodeAddresses: ['192.168.1.10'] },
  );

describe('ipvs dataplane sync (fake kernel)', () => {
  it('first sync builds everything; an identical sync writes nothing; a removed endpoint drains at weight 0', async () => {
    const k = new FakeKernel();
    const sysctls: string[] = [];
    const dp = createIpvsDataplaneWith(
      { config: { ...DEFAULTS, ipvsScheduler: 'lc' }, log: memoryLogger(), nodeAddresses: () => ['192.168.1.10'] },
      { run: k.run, writeSysctl: (p, v) => (sysctls.push(`${p}=${v}`), null) },
    );
    await dp.start();
    expect(sysctls).toEqual(['/proc/sys/net/ipv4/vs/conntrack=1', '/proc/sys/net/ipv4/vs/expire_nodest_conn=1', '/proc/sys/net/ipv4/vs/expire_quiescent_template=1']);
    await dp.apply({ state: web(['10.244.1.1', '10.244.1.2']), changed: 'all' });

    expect(k.device).toEqual(new Set(['10.96.0.10']));
    expect([...parseIpvsSave(k.ipvs.join('\n')).keys()].sort()).toEqual(['TCP/10.96.0.10:80', 'TCP/192.168.1.10:30080']);
    expect(k.ipvs).toContain('-A -t 10.96.0.10:80 -s lc');
    expect(k.ipvs).toContain('-a -t 192.168.1.10:30080 -r 10.244.1.2:8080 -m -w 1');
    expect(k.sets.get('EKP-NODE-PORT')?.entries).toEqual(new Set(['192.168.1.10,tcp:30080']));
    expect(k.iptables).toContain('-A PREROUTING -m comment --comment ebpf-kube-proxy-ipvs -j EKP-SERVICES');
    // Sets exist before the rules that match them are written.
    const order = k.calls.map((c) => c.argv.join(' '));
    expect(order.indexOf('ipset -exist restore')).toBeLessThan(order.indexOf('iptables-nft-restore --noflush'));

    const n = k.calls.length;
    await dp.apply({ state: web(['10.244.1.1', '10.244.1.2']), changed: new Set() });
    expect(k.since(n)).toEqual(['ipset save', 'ipvsadm -Sn', 'ip -j addr show dev ekp-ipvs0']);

    await dp.apply({ state: web(['10.244.1.1']), changed: new Set(['default/web:http']) });
    expect(k.ipvs).toContain('-a -t 10.96.0.10:80 -r 10.244.1.2:8080 -m -w 0');
    expect(dp.kernelMetrics!().ekp_ipvs_real_servers!.samples).toEqual([{ labels: { state: 'active' }, value: 2 }, { labels: { state: 'draining' }, value: 2 }]);
    // No connections left (ipvsadm -Ln lists none): the next sync deletes them.
    await dp.apply({ state: web(['10.244.1.1']), changed: new Set() });
    expect(k.ipvs.filter((l) => l.includes('10.244.1.2'))).toEqual([]);
    expect(k.conntrack).toEqual([]); // TCP: established connections keep their backend
    await dp.close();
  });

  it('ipvs timeouts: set once at start when any is given (0 keeps that one), a refusal is logged and the proxy goes on', async () => {
    const started = async (ipvsTimeouts: typeof DEFAULTS.ipvsTimeouts, failSet = false) => {
      const k = new FakeKernel();
      k.failSet = failSet;
      const log = memoryLogger();
      const dp = createIpvsDataplaneWith({ config: { ...DEFAULTS, ipvsTimeouts }, log, nodeAddresses: () => ['192.168.1.10'] }, { run: k.run, writeSysctl: () => null });
      await dp.start();
      await dp.apply({ state: web(['10.244.1.1']), changed: 'all' });
      await dp.close();
      return { sets: k.calls.map((c) => c.argv.join(' ')).filter((c) => c.startsWith('ipvsadm --set')), log, k };
    };
    expect((await started(DEFAULTS.ipvsTimeouts)).sets).toEqual([]);
    expect((await started({ tcpS: 900, tcpFinS: 0, udpS: 60 })).sets).toEqual(['ipvsadm --set 900 0 60']);
    const refused = await started({ tcpS: 900, tcpFinS: 0, udpS: 0 }, true);
    expect(refused.log.lines.filter((l) => l.msg === 'cannot set the ipvs timeouts')).toHaveLength(1);
    expect(refused.k.ipvs).toContain('-A -t 10.96.0.10:80 -s rr');
  });

  it('the node\'s own connections to a load-balancer IP meet its source ranges in mangle; a kernel without that table gets everything else, said once', async () => {
    const run = async (refuseMangle: boolean) => {
      const k = new FakeKernel();
      k.refuseMangle = refuseMangle;
      const log = memoryLogger();
      const dp = createIpvsDataplaneWith({ config: DEFAULTS, log, nodeAddresses: () => ['192.168.1.10'] }, { run: k.run, writeSysctl: () => null });
      await dp.start();
      await dp.apply({ state: web(['10.244.1.1']), changed: 'all' });
      await dp.apply({ state: web(['10.244.1.1']), changed: 'all' });
      await dp.close();
      return { k, said: log.lines.filter((l) => /no iptables mangle table/.test(String(l.msg))).length };
    };
    const ok = await run(false);
    expect(ok.k.iptables).toContain('-A OUTPUT -m conntrack --ctstate NEW -m comment --comment ebpf-kube-proxy-ipvs -j EKP-OUT-FIREWALL');
    expect(ok.said).toBe(0);
    const refused = await run(true);
    expect(refused.k.iptables).not.toContain('EKP-OUT-FIREWALL');
    expect(refused.k.iptables).toContain('-A INPUT -m conntrack --ctstate NEW -m comment --comment ebpf-kube-proxy-ipvs -j EKP-FIREWALL');
    expect(refused.k.ipvs).toContain('-A -t 10.96.0.10:80 -s rr');
    expect(refused.said).toBe(1);
  });

  it('a removed UDP endpoint: its real server goes at once, then its conntrack entries', async () => {
    const k = new FakeKernel();
    const dns = (ips: string[]) => state(
      [svc({ name: 'dns', spec: { clusterIP: '10.96.0.17', clusterIPs: ['10.96.0.17'], ports: [{ name: 'dns', port: 53, protocol: 'UDP', targetPort: 5353 }] } })],
      [slice({ service: 'dns', ports: [{ name: 'dns', port: 5353, protocol: 'UDP' }], endpoints: ips.map(a) })],
      { ...NODE, nodeAddresses: ['192.168.1.10'] },
    );
    const dp = createIpvsDataplaneWith(
      { config: DEFAULTS, log: memoryLogger(), nodeAddresses: () => ['192.168.1.10'] },
      { run: k.run, writeSysctl: () => null },
    );
    await dp.start();
    await dp.apply({ state: dns(['10.244.1.1', '10.244.1.2']), changed: 'all' });
    expect(k.conntrack).toEqual([]);
    const n = k.calls.length;
    await dp.apply({ state: dns(['10.244.1.1']), changed: new Set(['default/dns:dns']) });
    expect(k.ipvs.filter((l) => l.includes('10.244.1.2'))).toEqual([]);
    expect(k.conntrack).toEqual(['-D -p udp --orig-dst 10.96.0.17 --orig-port-dst 53 --reply-src 10.244.1.2 --reply-port-src 5353']);
    const order = k.since(n);
    expect(order.indexOf('ipvsadm --restore')).toBeLessThan(order.findIndex((c) => c.startsWith('conntrack -R')));
    await dp.close();
  });
});

describe('ipvs: the conntrack reconciler (shared with nftables and iptables: udp-cleaner.ts)', () => {
  const dns = (ips: string[]) => state(
    [svc({ name: 'dns', spec: { clusterIP: '10.96.0.17', clusterIPs: ['10.96.0.17'], ports: [{ name: 'dns', port: 53, protocol: 'UDP', targetPort: 5353 }] } })],
    [slice({ service: 'dns', ports: [{ name: 'dns', port: 5353, protocol: 'UDP' }], endpoints: ips.map(a) })],
    { ...NODE, nodeAddresses: ['192.168.1.10'] },
  );
  const entry = (replySrc: string, sport: number) =>
    `udp      17 119 src=10.244.9.9 dst=10.96.0.17 sport=${sport} dport=53 src=${replySrc} dst=10.244.9.9 sport=5353 dport=${sport} [ASSURED] mark=0 use=1`;

  it('a restarted proxy: the first sync deletes the entries to an endpoint removed meanwhile, and counts them; partial syncs (the drain checks are ones) do not list', async () => {
    const k = new FakeKernel();
    k.conntrackTable = [entry('10.244.1.1', 40000), entry('10.244.1.2', 40001)];
    const dp = createIpvsDataplaneWith({ config: DEFAULTS, log: memoryLogger(), nodeAddresses: () => ['192.168.1.10'] }, { run: k.run, writeSysctl: () => null });
    await dp.start();
    const metrics = dp.kernelMetrics!();
    expect(metrics.kubeproxy_conntrack_reconciler_sync_duration_seconds?.type).toBe('histogram');
    expect(metrics.kubeproxy_conntrack_reconciler_deleted_entries_total?.type).toBe('counter');

    await dp.apply({ state: dns(['10.244.1.2']), changed: 'all' });
    expect(k.conntrackTable).toEqual([entry('10.244.1.2', 40001)]);
    expect(k.conntrack).toEqual(['-D -p udp --orig-src 10.244.9.9 --orig-dst 10.96.0.17 --orig-port-src 40000 --orig-port-dst 53 --reply-src 10.244.1.1 --reply-port-src 5353']);
    const order = k.calls.map((c) => c.argv.join(' '));
    expect(order.indexOf('conntrack -L -p udp -f ipv4')).toBeGreaterThan(order.indexOf('ipvsadm --restore'));
    expect(dp.kernelMetrics!().kubeproxy_conntrack_reconciler_deleted_entries_total!.samples).toEqual([{ labels: { ip_family: 'IPv4' }, value: 1 }]);
    expect(dp.kernelMetrics!().kubeproxy_conntrack_reconciler_sync_duration_seconds!.samples.map((s) => [s.labels, s.value])).toEqual([[{ ip_family: 'IPv4' }, 1]]);

    const n = k.calls.length;
    await dp.apply({ state: dns(['10.244.1.2']), changed: new Set(['default/dns:dns']) });
    expect(k.since(n).filter((c) => c.startsWith('conntrack'))).toEqual([]);
    await dp.apply({ state: dns(['10.244.1.2']), changed: 'all' });
    expect(k.since(n).filter((c) => c.startsWith('conntrack'))).toEqual(['conntrack -L -p udp -f ipv4']);
    await dp.close();
  });
});

describe('ipvs: which iptables backend', () => {
  it('legacy where iptables-nft cannot read the kernel (no nf_tables), and nft where neither reads (the first sync says why)', async () => {
    const fake = (legacyOk: boolean) => async (argv: string[]): Promise<CommandResult> => {
      if (argv[0] === 'iptables-nft-save') return { status: 1, stdout: '', stderr: 'iptables-nft-save: Could not fetch rule set generation id: Protocol not supported' };
      if (argv[0] === 'iptables-legacy-save') return legacyOk ? { status: 0, stdout: '*nat\nCOMMIT\n', stderr: '' } : { status: 127, stdout: '', stderr: 'not found' };
      return { status: 127, stdout: '', stderr: `unexpected ${argv.join(' ')}` };
    };
    expect((await chooseBackend(fake(true))).backend).toBe('legacy');
    // This machine's own `iptables` alternative decides first, as on a node.
    expect((await chooseBackend(fake(false))).backend).toBe(systemIptablesIsLegacy() ? 'legacy' : 'nft');
  });
});

