// Every BPF object we ship, loaded on the VM's kernel (Debian 12's 6.1) the way the daemon
// loads it, and run on a few packets there: the 6.1 verifier (its 512-byte combined stack,
// rounded to 32 bytes a frame, once stopped tc_lb) and 6.1's helpers, which no host test
// reaches. test/vm/ipvs.test.ts runs this file in its VM, after the ipvs files, and requires
// every test below (bpf-kernel-tests.ts) to have passed.
//
// Guest-only (EKP_IN_VM=1): vitest.config.ts leaves it out on hosts, whose own kernel the
// test/bpf files cover. Nothing here is attached to a device; the socket programs go on a
// cgroup of the test's own.
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { release } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/config/index.js';
import { CFG_F, MAP, SNAT_PORT_DEFAULT, SVC_F, BE_F, type Config, type SvcKey } from '../../src/dataplane/ebpf/abi.js';
import { attachSocketPrograms } from '../../src/dataplane/ebpf/cgroup.js';
import { ConntrackCollector, collectConntrack, monotonicNs } from '../../src/dataplane/ebpf/conntrack-gc.js';
import { kernelAtLeast } from '../../src/dataplane/ebpf/kernel.js';
import { mapSizesOf, programConfigOf } from '../../src/dataplane/ebpf/load-config.js';
import { loadDatapath, type AttachRole, type LoadedDatapath } from '../../src/dataplane/ebpf/loader.js';
import { loadObjects } from '../../src/bench/datapath/rig.js';
import { detachCgroup, type BpfMap, type BpfProgram } from '../../src/native/index.js';
import { createLogger } from '../../src/observe/index.js';
import { decideMode, probeFeatures, realProbeEnv } from '../../src/probe/index.js';
import { mountPrivateBpffs, type PrivateBpffs } from '../support/bpffs.js';
import { createTestCgroup, type TestCgroup } from '../support/cgroup.js';
import { buildPacket, type PacketSpec } from '../support/packet.js';
import { runCase, type Case } from '../bpf/cases.js';
import { Datapath, TC, XDP, type ProgName } from '../bpf/datapath.js';
import { icmpErrors, V4, V6 } from '../bpf/fixtures.js';
import { bareNetns, mutationWalk, routedNetns, type Hook } from '../bpf/mutations.js';
import { checkVerifierHeadroom } from '../bpf/verifier-headroom.js';
import { BPF_KERNEL_TESTS as T } from './bpf-kernel-tests.js';

const inVm = process.env.EKP_IN_VM === '1';

/** The daemon's configuration with no flags, and its program config on a node with V4's and V6's node addresses. */
const proxyConfig = resolveConfig([]);
const daemonConfig = programConfigOf(proxyConfig, [V4.node, V6.node]);
const ROLE_FLAGS: Record<AttachRole, number> = { wire: 0, host: CFG_F.FROM_HOST, pods: CFG_F.FROM_PODS };
/** What each attachment's instance gets: the daemon's config plus its role (loader.ts). */
const ROLE: Record<AttachRole, Config> = Object.fromEntries(
  (Object.keys(ROLE_FLAGS) as AttachRole[]).map((r) => [r, { ...daemonConfig, flags: (daemonConfig.flags ?? 0) | ROLE_FLAGS[r] }]),
) as Record<AttachRole, Config>;

/**
 * The case harness (test/bpf/cases.ts) over the programs loadDatapath loaded, instead of
 * instances of its own: a step names its program and role config, and gets the daemon's instance.
 */
class LoadedHarness extends Datapath {
  constructor(private readonly loaded: LoadedDatapath) {
    super('');
  }

  override program(name: ProgName, config: Config = {}): BpfProgram {
    const role = (Object.keys(ROLE) as AttachRole[]).find((r) => JSON.stringify(ROLE[r]) === JSON.stringify(config));
    if (!role) throw new Error(`no instance of the daemon's has config ${JSON.stringify(config)}`);
    if (name === 'xdp_nodeport') {
      expect(role, 'xdp_lb gets the plain config').toBe('wire');
      return this.loaded.xdp;
    }
    if (name === 'tc_to_pod') {
      expect(role, 'tc_to_pod is the pods instance\'s').toBe('pods');
      return this.loaded.tc.toPod;
    }
    const prog = this.loaded.tc[role];
    expect(prog.name, `${role}'s program`).toBe(name);
    return prog;
  }

  override map(name: string): BpfMap {
    const key = (Object.keys(MAP) as (keyof typeof MAP)[]).find((k) => MAP[k] === name);
    if (!key) throw new Error(`no map ${name}`);
    return this.loaded.maps[key];
  }

  override close(): void {}
}

describe.runIf(inVm)(`BPF objects on the guest's kernel (${release()})`, () => {
  let fs: PrivateBpffs | undefined;
  let loaded: LoadedDatapath | undefined;
  let dp: LoadedHarness | undefined;
  /** Why loading failed: every test after the load reports it rather than a missing object. */
  let loadError: Error | null = null;
  const need = (): LoadedHarness => {
    if (loadError) throw loadError;
    return dp!;
  };

  beforeAll(async () => {
    fs = mountPrivateBpffs();
    const t0 = performance.now();
    try {
      loaded = await loadDatapath({ pinDir: fs.path, config: daemonConfig, sizes: mapSizesOf(proxyConfig), log: createLogger({ format: 'json', verbosity: 0 }) });
      dp = new LoadedHarness(loaded);
      console.log(`EKP-VM: BPF objects loaded on ${release()} in ${Math.round(performance.now() - t0)} ms`);
    } catch (e) {
      loadError = e as Error;
    }
  });
  afterAll(() => {
    loaded?.close();
    fs?.dispose();
  });

  it(T.probe, () => {
    const features = probeFeatures(realProbeEnv);
    const decision = decideMode(features);
    const lacking = Object.entries(features).filter(([, f]) => !f.available).map(([n, f]) => `${n}: ${f.detail}`);
    expect(decision.reasons.ebpf, lacking.join('\n')).toBeNull();
    expect(decision.mode).toBe('ebpf');
    // Optional to the mode, but the daemon attaches them: XDP on node devices, the socket hooks on the cgroup.
    for (const f of ['xdp', 'cgroup_sock_addr', 'btf', 'cgroup2'] as const) expect(features[f], f).toMatchObject({ available: true });
  });

  it(T.flags, () => {
    // The one feature the datapath takes only where the kernel has it: bpf_cast_to_kern_ctx (6.2).
    // On 6.1 the daemon must leave it out.
    const kernCtx = (daemonConfig.flags ?? 0) & CFG_F.KERN_CTX;
    expect(kernCtx, `KERN_CTX on ${release()}`).toBe(kernelAtLeast(6, 2) ? CFG_F.KERN_CTX : 0);
  });

  it(T.load, () => {
    if (loadError) throw loadError;
    const l = loaded!;
    expect(Object.fromEntries(Object.entries(l.tc).map(([r, p]) => [r, p.name]))).toEqual({ wire: 'tc_ingress', host: 'tc_egress', pods: 'tc_ingress', toPod: 'tc_to_pod' });
    expect(l.xdp.name).toBe('xdp_nodeport');
    expect(l.sock.map((p) => p.name).sort()).toEqual(
      ['connect4', 'connect6', 'sendmsg4', 'sendmsg6', 'recvmsg4', 'recvmsg6', 'getpeername4', 'getpeername6'].map((h) => `sock_${h}`).sort(),
    );
    expect(l.ctGc.run.map((p) => p.name)).toEqual(['ct_gc4', 'ct_gc6']);
    // This kernel (6.1) loads the map iterators too.
    expect(l.ctGc.iter.map((i) => `${i.prog.name} ${i.map.name}`)).toEqual(['gc_iter4 ekp_ct4_v2', 'gc_iter6 ekp_ct_v2']);
    // Loaded means the kernel gave each one an id.
    for (const p of [...Object.values(l.tc), l.xdp, ...l.sock, ...l.ctGc.run, ...l.ctGc.iter.map((i) => i.prog)]) expect(p.id(), p.name).toBeGreaterThan(0);
    expect(l.maps.ct4.maxEntries).toBe(mapSizesOf(proxyConfig).ct);
  });

  it(T.floor, () => {
    // Its own pin directory: the benchmark gives it a map of another size than the daemon's.
    const dir = join(fs!.path, 'floor');
    mkdirSync(dir);
    const objs = loadObjects(dir, [
      { object: 'xdp_floor', config: {} }, { object: 'tc_floor', config: {} }, { object: 'ct_floor', config: ROLE.wire }, { object: 'syn_feed', config: {} },
      { object: 'tc_lb_noinsert', config: ROLE.wire },
    ], {});
    try {
      const floor = objs.prog('xdp_floor', 'xdp_floor');
      expect(floor.id()).toBeGreaterThan(0);
      const r = floor.testRun({ data: Buffer.alloc(64) });
      expect([XDP.drop, XDP.pass, XDP.tx]).toContain(r.retval);
      for (const [o, p] of [['tc_floor', 'tc_floor'], ['syn_feed', 'tc_syn_feed'], ['syn_feed', 'tc_feed_return'], ['tc_lb_noinsert', 'tc_ingress']]) {
        expect(objs.prog(o!, p!).id(), `${o} ${p}`).toBeGreaterThan(0);
      }
      // ct_floor's two programs on a new flow each: a SNAT flow's two entries, then one entry.
      const ct4 = objs.map(MAP.ct4);
      for (const [prog, sport, entries] of [['tc_ct_floor', 40000, 2], ['tc_flow_floor', 40001, 3]] as const) {
        const data = buildPacket(syn(V4.external, V4.clusterIp, sport, 80));
        const out = objs.prog('ct_floor', prog).testRun({ data });
        expect(out.retval, prog).toBe(TC.pass);
        expect(out.data.equals(data), prog).toBe(true);
        expect([...ct4.keys()], prog).toHaveLength(entries);
      }
    } finally {
      objs.close();
    }
  });

  it(T.headroom, () => {
    const dir = join(fs!.path, 'headroom');
    mkdirSync(dir);
    checkVerifierHeadroom(dir, ROLE);
  });

  const syn = (src: string, dst: string, sport: number, dport: number): PacketSpec => ({ src, dst, proto: 'tcp', sport, dport });
  const tcp = (src: string, dst: string, sport: number, dport: number, flags: PacketSpec['tcpFlags']): PacketSpec =>
    ({ src, dst, proto: 'tcp', sport, dport, tcpFlags: flags });
  const backends = (d: Datapath, n = V4) => {
    d.setBackend(1, { addr: n.remoteBe, port: 8080 });
    d.setBackend(2, { addr: n.remoteBe, port: 5353 });
    d.setBackend(3, { addr: n.localBe, port: 8080, flags: BE_F.LOCAL });
  };
  const NODEPORT = 30080;

  it(T.tc, () => {
    const d = need();
    for (const n of [V4, V6]) {
      const cip: SvcKey = { addr: n.clusterIp, port: 80, proto: 'tcp' };
      const cases: Case[] = [
        {
          name: `${n.tag} pod -> ClusterIP`,
          setup: (x) => { backends(x, n); x.setService({ frontend: cip, svcId: 10, slots: [3] }); },
          steps: [
            { what: 'SYN DNATed', prog: 'tc_ingress', config: ROLE.pods, in: syn(n.pod, n.clusterIp, 40001, 80), verdict: TC.pass, out: syn(n.pod, n.localBe, 40001, 8080), events: { ct_created: 1 }, svc: { 10: 1 } },
            {
              what: 'SYN-ACK from the backend gets the ClusterIP back', prog: 'tc_ingress', config: ROLE.pods,
              in: tcp(n.localBe, n.pod, 8080, 40001, { syn: true, ack: true }), verdict: TC.pass,
              out: tcp(n.clusterIp, n.pod, 80, 40001, { syn: true, ack: true }), events: { ct_hit_rev: 1 },
            },
          ],
        },
        {
          name: `${n.tag} no service`,
          setup: (x) => { backends(x, n); x.setService({ frontend: cip, svcId: 10, slots: [1] }); },
          steps: [
            { what: 'other address passes untouched', prog: 'tc_ingress', config: ROLE.pods, in: syn(n.pod, n.other, 40002, 80), verdict: TC.pass, out: 'unchanged', events: { ct_created: 0 } },
            { what: 'ClusterIP, other port, untouched', prog: 'tc_ingress', config: ROLE.pods, in: syn(n.pod, n.clusterIp, 40003, 81), verdict: TC.pass, out: 'unchanged' },
          ],
        },
        {
          name: `${n.tag} host -> ClusterIP at tc egress`,
          setup: (x) => { backends(x, n); x.setService({ frontend: cip, svcId: 11, slots: [1] }); },
          steps: [{ what: 'DNAT, host source kept', prog: 'tc_egress', config: ROLE.host, in: syn(n.node, n.clusterIp, 44000, 80), verdict: TC.pass, out: syn(n.node, n.remoteBe, 44000, 8080) }],
        },
        {
          name: `${n.tag} pod -> ClusterIP -> a host-network backend (the node's address)`,
          setup: (x) => { x.setBackend(4, { addr: n.node, port: 6443, flags: BE_F.LOCAL }); x.setService({ frontend: cip, svcId: 13, slots: [4] }); },
          steps: [
            { what: 'SYN DNATed to the node', prog: 'tc_ingress', config: ROLE.pods, in: syn(n.pod, n.clusterIp, 40004, 80), verdict: TC.pass, out: syn(n.pod, n.node, 40004, 6443) },
            {
              what: 'the node\'s SYN-ACK gets the ClusterIP back on the veth\'s egress', prog: 'tc_to_pod', config: ROLE.pods,
              in: tcp(n.node, n.pod, 6443, 40004, { syn: true, ack: true }), verdict: TC.pass,
              out: tcp(n.clusterIp, n.pod, 80, 40004, { syn: true, ack: true }), events: { ct_hit_rev: 1 },
            },
          ],
        },
        {
          name: `${n.tag} empty service at tc egress`,
          setup: (x) => { backends(x, n); x.setService({ frontend: cip, svcId: 12, slots: [] }); },
          steps: [{
            what: 'RST back into the host', prog: 'tc_egress', config: ROLE.host, in: syn(n.node, n.clusterIp, 44001, 80), verdict: TC.redirect,
            out: { eth: { src: '02:00:00:00:00:02', dst: '02:00:00:00:00:01' }, src: n.clusterIp, dst: n.node, proto: 'tcp', sport: 80, dport: 44001, tcpFlags: { rst: true, ack: true }, seq: 0, ackSeq: 1001, window: 0, df: true },
          }],
        },
      ];
      for (const c of cases) runCase(d, c);
    }
  });

  it(T.icmp, () => {
    const d = need();
    for (const n of [V4, V6]) {
      const v6 = n.family === 6;
      const { TOO_BIG } = icmpErrors(n);
      const seg = (src: string, dst: string, sport: number, dport: number): PacketSpec =>
        ({ src, dst, proto: 'tcp', sport, dport, tcpFlags: { syn: true }, seq: 1000, ackSeq: 0, payload: 'x'.repeat(64) });
      const s = { port: 0 };
      runCase(d, {
        name: `${n.tag} NodePort from outside, then too-big about it`,
        setup: (x) => { backends(x, n); x.setService({ frontend: { addr: n.node, port: NODEPORT, proto: 'tcp' }, svcId: 20, slots: [1], flags: SVC_F.NODEPORT }); },
        steps: [
          {
            what: 'DNAT + SNAT to the node', prog: 'tc_ingress', config: ROLE.wire, in: seg(n.external, n.node, 41000, NODEPORT), verdict: TC.pass,
            out: (got) => {
              s.port = got.sport!;
              expect(s.port).toBeGreaterThanOrEqual(SNAT_PORT_DEFAULT.min);
              expect(s.port).toBeLessThanOrEqual(SNAT_PORT_DEFAULT.max);
              return seg(n.node, n.remoteBe, s.port, 8080);
            },
          },
          {
            what: 'error from a router: to the client, about the packet it sent', prog: 'tc_ingress', config: ROLE.wire,
            in: () => ({ src: n.other, dst: n.node, proto: v6 ? 'icmpv6' : 'icmp', icmp: { ...TOO_BIG, inner: seg(n.node, n.remoteBe, s.port, 8080) } }),
            verdict: TC.pass,
            out: { src: n.other, dst: n.external, proto: v6 ? 'icmpv6' : 'icmp', icmp: { ...TOO_BIG, inner: seg(n.external, n.node, 41000, NODEPORT) } },
            events: { icmp_err_xlate: 1 },
          },
        ],
      });
    }
  });

  it(T.xdp, () => {
    const d = need();
    for (const n of [V4, V6]) {
      runCase(d, {
        name: `${n.tag} XDP NodePort eTP=Local`,
        setup: (x) => { backends(x, n); x.setService({ frontend: { addr: n.node, port: NODEPORT, proto: 'tcp' }, svcId: 30, slots: [3], flags: SVC_F.NODEPORT | SVC_F.PRESERVE_SRC }); },
        steps: [
          { what: 'SYN rewritten in XDP', prog: 'xdp_nodeport', config: ROLE.wire, in: syn(n.external, n.node, 51000, NODEPORT), verdict: XDP.pass, out: syn(n.external, n.localBe, 51000, 8080), events: { ct_created: 1 }, svc: { 30: 1 } },
          { what: 'reply from the pod un-NATed', prog: 'tc_ingress', config: ROLE.pods, in: tcp(n.localBe, n.external, 8080, 51000, { syn: true, ack: true }), verdict: TC.pass, out: tcp(n.node, n.external, NODEPORT, 51000, { syn: true, ack: true }) },
        ],
      });
    }
  });

  // Where the checksum paths are the kernel's helpers (no KERN_CTX before 6.2), unlike the host's.
  // 16-19 s under the emulation alone, over 30 s while the host's suite shares the CPU.
  it(T.mutations, () => {
    const d = need();
    const hooks: Hook[] = [
      { prog: 'tc_ingress', config: ROLE.pods, ingressIfindex: 5 },
      { prog: 'tc_ingress', config: ROLE.wire, ingressIfindex: 2 },
      { prog: 'tc_egress', config: ROLE.host },
      { prog: 'tc_to_pod', config: ROLE.pods },
      { prog: 'xdp_nodeport', config: ROLE.wire },
    ];
    // Unrouted, and routed as a node's, where tc sends rerouted translations on and takes a hop off.
    const bare = bareNetns();
    const routed = routedNetns();
    try {
      for (const n of [V4, V6]) {
        for (const netns of [bare.path, routed.ns.path]) {
          const isRouted = netns === routed.ns.path;
          const what = `${n.tag}${isRouted ? ', routed' : ''}`;
          const perSeed = isRouted ? 100 : 150;
          const w = mutationWalk(d, n, isRouted ? routed.hooks(hooks) : hooks, perSeed, 0x5eed, netns);
          expect(w.failures.join('\n\n'), `${what}: outcomes that break a rule (the first 12)`).toBe('');
          expect(w.untouched, `${what}: seeds no hook translated or answered`).toEqual([]);
          expect(w.mutatedChanged, `${what}: mutated packets translated`).toBeGreaterThan(perSeed / 4);
          if (isRouted) {
            expect(w.tally.sentOn, `${what}: translations sent on`).toBeGreaterThan(perSeed / 8);
            expect(w.tally.throughLo, `${what}: translations sent in through lo`).toBeGreaterThan(perSeed / 8);
          }
        }
      }
    } finally {
      bare.destroy();
      routed.ns.destroy();
    }
  }, 120_000);

  it(T.gc, async () => {
    const d = need();
    d.reset();
    backends(d);
    d.setService({ frontend: { addr: V4.clusterIp, port: 80, proto: 'tcp' }, svcId: 40, slots: [1] });
    for (let p = 42000; p < 42005; p++) expect(d.program('tc_ingress', ROLE.pods).testRun({ data: buildSyn(p) }).retval).toBe(TC.pass);
    // The daemon's collector, on the loaded ct_gc programs: nothing expired yet, then everything;
    // through the map iterators (the daemon's way on this kernel), then the one-run programs.
    const collector = new ConntrackCollector(loaded!.ctGc, (e) => { throw new Error(`fell back: ${e}`); });
    expect(await collector.collect()).toEqual({ entries: 10, deleted: 0, flows: 5 });
    expect(collector.usesIterators).toBe(true);
    expect(collectConntrack(loaded!.ctGc.run)).toEqual({ entries: 10, deleted: 0, flows: 5 });
    const later = monotonicNs() + 10n * 86_400n * 1_000_000_000n;
    expect(await collector.collect(later)).toEqual({ entries: 0, deleted: 10, flows: 0 });
  });

  it(T.sock, async () => {
    const d = need();
    d.reset();
    let cg: TestCgroup | undefined;
    let server: Server | undefined;
    try {
      // A backend on loopback; the ClusterIP has no route here, so only the connect hook gets there.
      let accepted = 0;
      server = createServer((c) => { accepted++; c.end(); });
      const port = await new Promise<number>((r) => server!.listen(0, '127.0.0.1', () => r((server!.address() as { port: number }).port)));
      d.setBackend(1, { addr: '127.0.0.1', port });
      d.setService({ frontend: { addr: V4.clusterIp, port: 80, proto: 'tcp' }, svcId: 50, slots: [1] });
      cg = createTestCgroup('bpfkernel');
      attachSocketPrograms(loaded!.sock, cg.path);
      const before = d.counters().events.sock_xlate;
      // The client joins the cgroup, then connects with bash's /dev/tcp: no node start-up under emulation.
      const status = await new Promise<number | null>((resolve) => {
        const c = spawn('bash', ['-c', `echo $$ > "$CG/cgroup.procs" && exec 3<>/dev/tcp/${V4.clusterIp}/80`], { env: { PATH: process.env.PATH, CG: cg!.path }, stdio: 'inherit' });
        c.on('error', () => resolve(null));
        c.on('exit', (code) => resolve(code));
      });
      expect(status, 'connect to the ClusterIP from the cgroup').toBe(0);
      expect(d.counters().events.sock_xlate - before).toBe(1n);
      for (let i = 0; i < 50 && accepted === 0; i++) await new Promise((r) => setTimeout(r, 20));
      expect(accepted).toBe(1);
    } finally {
      if (cg) for (const p of loaded!.sock) {
        try { detachCgroup(p, cg.path); } catch { /* not attached */ }
      }
      cg?.dispose();
      await new Promise((r) => (server ? server.close(r) : r(undefined)));
    }
  });
});

function buildSyn(sport: number): Buffer {
  return buildPacket({ src: V4.pod, dst: V4.clusterIp, proto: 'tcp', sport, dport: 80 });
}
