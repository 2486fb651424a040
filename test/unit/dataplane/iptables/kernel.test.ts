// The generated rules in a real kernel, in a throwaway network namespace, with both iptables
// backends: what iptables-save shows after a full sync, a partial sync and --cleanup.
import { afterEach, describe, expect } from 'vitest';
import { cleanupIptables, IptablesDataplane } from '../../../../src/dataplane/iptables/index.js';
import { endpointChain } from '../../../../src/dataplane/iptables/names.js';
import { parseSave, type Saved } from '../../../../src/dataplane/iptables/save.js';
import { kernelIt } from '../../../support/capability.js';
import { TestNetns, sweepStaleNetns } from '../../../support/netns.js';
import { FakeIptables } from './fake.js';
import { context, desired, everything } from './states.js';
import type { CommandRunner } from '../../../../src/dataplane/iptables/exec.js';

const it = kernelIt();

function kube(saved: Saved, table: string): string[] {
  return [...(saved.get(table)?.chains.keys() ?? [])].filter((c) => c.startsWith('KUBE-')).sort();
}

/** Rules per chain: the kernel spells rules its own way, but the counts must match what we wrote. */
function ruleCounts(saved: Saved, table: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const c of saved.get(table)?.chains.keys() ?? []) out[c] = 0;
  for (const r of saved.get(table)?.rules ?? []) {
    const c = r.split(' ')[1]!;
    out[c] = (out[c] ?? 0) + 1;
  }
  return out;
}

/** The same state through the fake kernel, for comparison. */
async function expected(state: ReturnType<typeof desired>, then?: ReturnType<typeof desired>, changed?: Set<string>) {
  const k = { 4: new FakeIptables(), 6: new FakeIptables() };
  const runner: CommandRunner = async (argv, stdin) => {
    const f = argv[0]!.startsWith('ip6') ? 6 : 4;
    if (argv[0]!.endsWith('-save')) return { status: 0, stdout: k[f].save(), stderr: '' };
    if (!argv.includes('--version')) k[f].restore(stdin ?? '');
    return { status: 0, stdout: '', stderr: '' };
  };
  const dp = new IptablesDataplane(context(), { backend: 'nft', runner });
  await dp.start();
  await dp.apply({ state, changed: 'all' });
  if (then) await dp.apply({ state: then, changed: changed ?? 'all' });
  return { 4: parseSave(k[4].save()), 6: parseSave(k[6].save()) };
}

describe.each(['nft', 'legacy'] as const)('iptables mode in a real kernel, %s backend', (backend) => {
  let ns: TestNetns | null = null;
  afterEach(() => {
    ns?.destroy();
    ns = null;
  });

  const save = (family: 4 | 6) => parseSave(ns!.exec([`${family === 4 ? 'iptables' : 'ip6tables'}-${backend}-save`]));
  const other = backend === 'nft' ? 'legacy' : 'nft';

  it('full sync, partial sync, repeated full sync and cleanup', async () => {
    sweepStaleNetns();
    ns = TestNetns.create('ipt');
    const ctx = context();
    const dp = new IptablesDataplane(ctx, { backend, netns: ns.path });
    await dp.start();

    const before = desired(everything());
    await dp.apply({ state: before, changed: 'all' });
    const want = await expected(before);
    for (const f of [4, 6] as const) {
      const got = save(f);
      for (const t of ['filter', 'nat']) {
        expect(kube(got, t)).toEqual(kube(want[f], t));
        expect(ruleCounts(got, t)).toEqual(ruleCounts(want[f], t));
      }
    }
    const nat4 = save(4).get('nat')!;
    expect(nat4.rules).toContain('-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES');
    expect(nat4.rules).toContain('-A KUBE-POSTROUTING -j MASQUERADE --random-fully'.replace(' -j', ' -m comment --comment "kubernetes service traffic requiring SNAT" -j'));
    expect(nat4.rules.some((r) => r.includes('-m statistic --mode random --probability 0.50000000000'))).toBe(true);
    expect(nat4.rules.some((r) => r.includes('-m recent --rcheck --seconds 300 --reap --name KUBE-SEP-'))).toBe(true);
    expect(save(4).get('filter')!.rules).toContain('-A KUBE-SERVICES -d 10.96.0.14/32 -p tcp -m comment --comment "default/empty:http has no endpoints" -m tcp --dport 80 -j REJECT --reject-with icmp-port-unreachable');

    // Partial: one endpoint of np replaced; only its chains change, the old endpoint chain goes.
    const o = everything();
    o.endpointSlices[1] = { ...o.endpointSlices[1]!, endpoints: [(o.endpointSlices[1]!.endpoints as unknown[])[0], { addresses: ['10.244.2.9'], conditions: { ready: true }, nodeName: 'node-b' }] };
    const after = desired(o);
    await dp.apply({ state: after, changed: new Set(['default/np:http']) });
    expect(dp.lastSync.map((s) => [s.family, s.full, s.servicesWritten])).toEqual([[4, false, 1]]);
    const wantAfter = await expected(before, after, new Set(['default/np:http']));
    const got = save(4);
    expect(kube(got, 'nat')).toEqual(kube(wantAfter[4], 'nat'));
    expect(ruleCounts(got, 'nat')).toEqual(ruleCounts(wantAfter[4], 'nat'));
    expect(kube(got, 'nat')).not.toContain(endpointChain('default/np:http', 'tcp', '10.244.2.2:8080'));
    expect(kube(got, 'nat')).toContain(endpointChain('default/np:http', 'tcp', '10.244.2.9:8080'));

    // A repeated full sync changes nothing, and adds no second copy of any jump.
    const strip = (s: string) => s.split('\n').filter((l) => !l.startsWith('#')).join('\n');
    const text = strip(ns.exec([`iptables-${backend}-save`]));
    await dp.apply({ state: after, changed: 'all' });
    expect(strip(ns.exec([`iptables-${backend}-save`]))).toBe(text);

    // The other backend was never touched.
    const untouched = ns.tryExec([`iptables-${other}-save`]);
    expect(untouched.stdout).not.toContain('KUBE-');

    // SIGTERM: close() leaves every rule in place.
    await dp.close();
    expect(strip(ns.exec([`iptables-${backend}-save`]))).toBe(text);

    // --cleanup removes our chains and jumps and nothing of the user's.
    ns.exec([`iptables-${backend}-restore`, '--noflush'], '*filter\n:USER-CHAIN - [0:0]\n-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT\n-A USER-CHAIN -j ACCEPT\nCOMMIT\n');
    const removed = await cleanupIptables(ctx, { netns: ns.path, backends: [backend] });
    expect(removed.length).toBeGreaterThan(20);
    for (const f of [4, 6] as const) {
      const s = save(f);
      expect(kube(s, 'nat')).toEqual([]);
      expect(kube(s, 'filter')).toEqual([]);
      expect(kube(s, 'mangle')).toEqual([]);
      expect([...(s.get('nat')?.rules ?? []), ...(s.get('filter')?.rules ?? [])].filter((r) => r.includes('KUBE-'))).toEqual([]);
    }
    expect(save(4).get('filter')!.rules).toEqual(['-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT', '-A USER-CHAIN -j ACCEPT']);
    expect(await cleanupIptables(ctx, { netns: ns.path, backends: [backend] })).toEqual([]);
  });

  it('periodic syncs write nothing while the canaries stand; after a flush of nat, one is full and repairs it', async () => {
    sweepStaleNetns();
    ns = TestNetns.create('ipt');
    const dp = new IptablesDataplane(context(), { backend, netns: ns.path });
    await dp.start();
    const state = desired(everything());
    await dp.apply({ state, changed: 'all' });
    const strip = (s: string) => s.split('\n').filter((l) => !l.startsWith('#')).join('\n');
    const text = strip(ns.exec([`iptables-${backend}-save`]));
    for (const t of ['mangle', 'nat', 'filter']) expect(save(4).get(t)!.chains.has('KUBE-PROXY-CANARY')).toBe(true);

    await dp.apply({ state, changed: 'all' });
    expect(dp.lastSync.map((x) => [x.full, x.servicesWritten, x.bytes])).toEqual([[false, 0, 0], [false, 0, 0]]);

    ns.exec([`iptables-${backend}`, '-t', 'nat', '-F']);
    ns.exec([`iptables-${backend}`, '-t', 'nat', '-X']);
    expect(kube(save(4), 'nat')).toEqual([]);
    await dp.apply({ state, changed: 'all' });
    expect(dp.lastSync.map((x) => x.full)).toEqual([true, true]);
    expect(strip(ns.exec([`iptables-${backend}-save`]))).toBe(text);
  });

  it('a restore that the kernel refuses leaves the previous rules in place and makes the next sync full', async () => {
    sweepStaleNetns();
    ns = TestNetns.create('ipt');
    const dp = new IptablesDataplane(context({ masqueradeBit: 14 }), { backend, netns: ns.path });
    await dp.start();
    await dp.apply({ state: desired(everything()), changed: 'all' });
    const strip = (s: string) => s.split('\n').filter((l) => !l.startsWith('#')).join('\n');
    const text = strip(ns.exec([`iptables-${backend}-save`]));
    // Our KUBE-SERVICES referenced from a user chain: cannot break a restore, but a foreign
    // jump to a chain we delete does. Simulate with a user chain jumping to np's endpoint chain.
    const sep = endpointChain('default/np:http', 'tcp', '10.244.2.2:8080');
    ns.exec([`iptables-${backend}-restore`, '--noflush'], `*nat\n:USER - [0:0]\n-A USER -j ${sep}\nCOMMIT\n`);
    const o = everything();
    o.endpointSlices[1] = { ...o.endpointSlices[1]!, endpoints: [(o.endpointSlices[1]!.endpoints as unknown[])[0]] };
    await expect(dp.apply({ state: desired(o), changed: new Set(['default/np:http']) })).rejects.toThrow(/restore failed/);
    const now = strip(ns.exec([`iptables-${backend}-save`])).split('\n').filter((l) => !l.includes('USER')).join('\n');
    expect(now).toBe(text);
    ns.exec([`iptables-${backend}-restore`, '--noflush'], '*nat\n:USER - [0:0]\n-X USER\nCOMMIT\n');
    await dp.apply({ state: desired(o), changed: new Set() });
    expect(dp.lastSync[0]!.full).toBe(true);
  });
});
