import { afterAll, beforeAll, describe, expect } from 'vitest';
import { BpfObject, bpfObjectPath, type BpfMap } from '../../src/native/index.js';
import {
  CT_F, CT_STATE, CT_TIMEOUT_DEFAULT_S, CT_TYPE, MAP, encodeConfig, encodeCtKey, encodeCtVal, decodeCtKey, decodeCtVal, reverseKeyOf, CONFIG_GLOBAL,
} from '../../src/dataplane/ebpf/abi.js';
import { ConntrackCollector, collectConntrack, collectConntrackIter, monotonicNs, type CtGcPrograms, type GcResult } from '../../src/dataplane/ebpf/conntrack-gc.js';
import { mountPrivateBpffs, type PrivateBpffs } from '../support/bpffs.js';
import { kernelIt } from '../support/capability.js';
import { buildPacket } from '../support/packet.js';
import { Datapath } from './datapath.js';
import { FROM_PODS } from './fixtures.js';

const it = kernelIt();

// Every case runs on both ways the daemon collects: the map iterators, and one run per map.
describe.each(['iterators', 'one run per map'] as const)('conntrack GC (%s)', (how) => {
  let fs: PrivateBpffs;
  let obj: BpfObject;
  let ct4: BpfMap;
  let ct6: BpfMap;
  let gcObj: BpfObject;
  let programs: CtGcPrograms;
  const gc = {
    collect: async (now = 0n): Promise<GcResult> => (how === 'iterators' ? collectConntrackIter(programs, now) : collectConntrack(programs.run, now)),
  };
  beforeAll(() => {
    fs = mountPrivateBpffs();
    obj = BpfObject.open(bpfObjectPath('tc_lb'), { pinRoot: fs.path });
    obj.setRodata(CONFIG_GLOBAL, encodeConfig({}));
    obj.load();
    ct4 = obj.map(MAP.ct4);
    ct6 = obj.map(MAP.ct);
    // The collector shares the datapath's maps through the pins, as the daemon loads it.
    gcObj = BpfObject.open(bpfObjectPath('ct_gc'), { pinRoot: fs.path });
    gcObj.load();
    programs = {
      iter: [{ prog: gcObj.program('gc_iter4'), map: ct4 }, { prog: gcObj.program('gc_iter6'), map: ct6 }],
      now: gcObj.map('ekp_gc_now'),
      run: [gcObj.program('ct_gc4'), gcObj.program('ct_gc6')],
    };
  });
  afterAll(() => {
    gcObj?.close();
    obj?.close();
    fs?.dispose();
  });

  const V4 = { client: '10.244.0.2', vip: '10.96.0.10', backend: '10.244.1.5' };
  const V6 = { client: 'fd00:244::2', vip: 'fd00:96::a', backend: 'fd00:244:1::5' };

  /** A NATed flow as the datapath writes it: FWD and REV entries with the same expiry, in its family's map. */
  function flow(clientPort: number, expiresNs: bigint, a = V4, opts: { revExpiresNs?: bigint; snatTo?: string } = {}): void {
    const fwdKey = { saddr: a.client, daddr: a.vip, sport: clientPort, dport: 80, proto: 'tcp' as const };
    const fwd = {
      expiresNs, addr: a.backend, addr2: opts.snatTo ?? null, port: 8080, port2: opts.snatTo ? 61000 + (clientPort % 1000) : 0, svcId: 1, backendId: 1,
      type: CT_TYPE.FWD, state: CT_STATE.ESTABLISHED, flags: opts.snatTo ? CT_F.SNAT : 0, tcpFlagsSeen: 0,
    };
    const rev = { ...fwd, type: CT_TYPE.REV, addr: a.vip, port: 80, addr2: a.client, port2: clientPort, expiresNs: opts.revExpiresNs ?? expiresNs };
    const ct = a === V4 ? ct4 : ct6;
    ct.update(encodeCtKey(fwdKey), encodeCtVal(fwd));
    ct.update(encodeCtKey(reverseKeyOf(fwdKey, fwd)), encodeCtVal(rev));
  }

  it('deletes both entries of expired flows, keeps live ones, and counts them (IPv4 and IPv6 maps)', async () => {
    const now = monotonicNs();
    for (let p = 40000; p < 40010; p++) flow(p, now - 1_000_000n);
    for (let p = 50000; p < 50005; p++) flow(p, now + 60_000_000_000n);
    for (let p = 40000; p < 40003; p++) flow(p, now - 1_000_000n, V6);
    flow(50000, now + 60_000_000_000n, V6);
    expect([...ct4.keys()].length).toBe(30);
    expect([...ct6.keys()].length).toBe(8);
    const r = await gc.collect(now);
    expect(r).toEqual({ entries: 12, deleted: 26, flows: 6 });
    expect([...ct4.keys()].length).toBe(10);
    expect([...ct6.keys()].length).toBe(2);
    expect(await gc.collect(now)).toEqual({ entries: 12, deleted: 0, flows: 6 });
  });

  it('a flow the datapath just created is live by our clock (both CLOCK_MONOTONIC)', async () => {
    const dp = new Datapath(fs.path);
    try {
      dp.setBackend(7, { addr: '10.244.1.5', port: 8080 });
      dp.setService({ frontend: { addr: '10.96.0.10', port: 80, proto: 'tcp' }, svcId: 3, slots: [7] });
      const syn = buildPacket({ src: '10.244.0.2', dst: '10.96.0.10', proto: 'tcp', sport: 41000, dport: 80, tcpFlags: { syn: true } });
      const before = monotonicNs();
      dp.program('tc_ingress', FROM_PODS).testRun({ data: syn });
      const created = [...ct4.entries()].map(([k, v]) => decodeCtVal(v, decodeCtKey(k).family)).filter((v) => v.svcId === 3);
      expect(created).toHaveLength(2);
      for (const v of created) {
        expect(v.expiresNs).toBeGreaterThan(before);
        expect(v.expiresNs).toBeLessThan(monotonicNs() + BigInt(CT_TIMEOUT_DEFAULT_S.syn + 1) * 1_000_000_000n);
      }
      expect((await gc.collect()).deleted).toBe(0);
      // Past the SYN timeout they are garbage.
      expect((await gc.collect(monotonicNs() + BigInt(CT_TIMEOUT_DEFAULT_S.syn + 1) * 1_000_000_000n)).deleted).toBeGreaterThanOrEqual(2);
    } finally {
      dp.close();
    }
  });

  it('by default the collector reads the kernel\'s clock (the datapath\'s coarse one, or for the iterators the precise one set back a tick)', async () => {
    flow(43000, 1n); // expired at boot
    flow(43001, monotonicNs() + 60_000_000_000n);
    const r = await gc.collect();
    expect(r.deleted).toBeGreaterThanOrEqual(2);
    expect(ct4.lookup(encodeCtKey({ saddr: V4.client, daddr: V4.vip, sport: 43000, dport: 80, proto: 'tcp' }))).toBeNull();
    expect(ct4.lookup(encodeCtKey({ saddr: V4.client, daddr: V4.vip, sport: 43001, dport: 80, proto: 'tcp' }))).not.toBeNull();
  });

  it('an expired tuple reused by a new flow is live again: the collector keeps it', async () => {
    const dp = new Datapath(fs.path);
    try {
      dp.setBackend(7, { addr: '10.244.1.5', port: 8080 });
      dp.setService({ frontend: { addr: '10.96.0.10', port: 80, proto: 'tcp' }, svcId: 4, slots: [7] });
      // The old connection on this client port died long ago...
      flow(42000, monotonicNs() - 1_000_000_000n);
      // ...and the client comes round to the port again: the datapath reuses the tuple.
      const syn = buildPacket({ src: V4.client, dst: V4.vip, proto: 'tcp', sport: 42000, dport: 80, tcpFlags: { syn: true } });
      dp.program('tc_ingress', FROM_PODS).testRun({ data: syn });
      await gc.collect();
      const fwd = ct4.lookup(encodeCtKey({ saddr: V4.client, daddr: V4.vip, sport: 42000, dport: 80, proto: 'tcp' }));
      expect(fwd, 'the new flow lost its entry').not.toBeNull();
      expect(decodeCtVal(fwd!, 4).svcId).toBe(4);
    } finally {
      dp.close();
    }
  });

  it('keeps an expired entry whose other direction lives (one side of the flow quiet), SNAT flows too; deletes both once both expired', async () => {
    for (const m of [ct4, ct6]) { const keys = [...m.keys()]; if (keys.length) m.deleteBatch(Buffer.concat(keys)); }
    const now = monotonicNs();
    const past = now - 1_000_000n;
    const future = now + 60_000_000_000n;
    flow(44000, future, V4, { revExpiresNs: past }); // the backend quiet: REV expired
    flow(44001, past, V4, { revExpiresNs: future }); // the client quiet: FWD expired
    flow(44002, past, V4, { revExpiresNs: future, snatTo: '10.0.0.5' });
    flow(44003, future, V4, { revExpiresNs: past, snatTo: '10.0.0.5' });
    flow(44004, past, V4, { revExpiresNs: past, snatTo: '10.0.0.5' }); // dead
    flow(44000, future, V6, { revExpiresNs: past });
    flow(44001, past, V6, { revExpiresNs: future });
    flow(44002, past, V6); // dead
    expect(await gc.collect(now)).toEqual({ entries: 12, deleted: 4, flows: 6 });
    expect([...ct4.keys()].length).toBe(8);
    expect([...ct6.keys()].length).toBe(4);
    // The live side expires too: the flow is over, both entries go.
    expect(await gc.collect(future + 1n)).toEqual({ entries: 0, deleted: 12, flows: 0 });
  });

  it('an expired half whose other key a newer flow holds (a SNAT port or a client port came round) is deleted, both ways, both families', async () => {
    for (const m of [ct4, ct6]) { const keys = [...m.keys()]; if (keys.length) m.deleteBatch(Buffer.concat(keys)); }
    const now = monotonicNs();
    const live = now + 60_000_000_000n;
    const other = { [4]: '10.244.0.99', [6]: 'fd00:244::99' } as const;
    for (const [a, fam, ct] of [[V4, 4, ct4], [V6, 6, ct6]] as const) {
      const snatTo = fam === 4 ? '10.0.0.5' : 'fd00::5';
      // An expired FWD entry whose REV key now belongs to another client's flow...
      flow(44010, now - 1_000_000n, a, { snatTo });
      const revOf = (port: number) => [...ct.entries()].find(([, v]) => { const d = decodeCtVal(v, fam); return d.type === CT_TYPE.REV && d.port2 === port; })!;
      const [rk, rv] = revOf(44010);
      ct.update(Buffer.from(rk), encodeCtVal({ ...decodeCtVal(rv, fam), addr2: other[fam], port2: 45000, expiresNs: live }));
      // ...and an expired REV entry whose client's FWD entry is a newer flow on another SNAT port.
      flow(44011, live, a, { snatTo, revExpiresNs: now - 1_000_000n });
      const [fk, fv] = [...ct.entries()].find(([k, v]) => decodeCtVal(v, fam).type === CT_TYPE.FWD && decodeCtKey(k).sport === 44011)!;
      ct.update(Buffer.from(fk), encodeCtVal({ ...decodeCtVal(fv, fam), port2: 62222 }));
    }
    // Per map: the first flow's FWD and the second's REV go; the other client's REV and the newer FWD stay.
    expect(await gc.collect(now)).toEqual({ entries: 4, deleted: 4, flows: 2 });
    for (const [fam, ct] of [[4, ct4], [6, ct6]] as const) {
      const left = [...ct.entries()].map(([k, v]) => ({ k: decodeCtKey(k), v: decodeCtVal(v, fam) }));
      expect(left.map((e) => `${e.v.type === CT_TYPE.FWD ? 'fwd' : 'rev'} ${e.v.type === CT_TYPE.FWD ? e.k.sport : e.v.port2}`).sort()).toEqual(['fwd 44011', 'rev 45000']);
    }
  });

  it('passes over 20,000 entries delete every expired one and keep every live one (one run: in one pass)', async () => {
    for (const m of [ct4, ct6]) { const keys = [...m.keys()]; if (keys.length) m.deleteBatch(Buffer.concat(keys)); }
    const now = monotonicNs();
    for (let p = 0; p < 5000; p++) flow(10000 + p, p % 2 ? now - 1n : now + 60_000_000_000n);
    for (let p = 0; p < 5000; p++) flow(10000 + p, p % 2 ? now - 1n : now + 60_000_000_000n, V6);
    const first = await gc.collect(now);
    if (how === 'one run per map') expect(first).toEqual({ entries: 10000, deleted: 10000, flows: 5000 });
    // The kernel resumes a stretch by counting the elements of the bucket it stopped in, and the
    // ones deleted before the stop no longer count: an iterator pass can leave about one expired
    // entry per stretch of 4,096 (here three stretches) for the next pass.
    else expect(first.deleted).toBeGreaterThanOrEqual(10000 - 30);
    let deleted = first.deleted;
    let last = first;
    for (let pass = 0; pass < 4 && last.deleted > 0; pass++) deleted += (last = await gc.collect(now)).deleted;
    expect(deleted).toBe(10000);
    expect(await gc.collect(now)).toEqual({ entries: 10000, deleted: 0, flows: 5000 });
    expect([...ct4.keys()].length + [...ct6.keys()].length).toBe(10000);
  });
});

describe('conntrack GC through map iterators', () => {
  let fs: PrivateBpffs;
  let obj: BpfObject;
  let gcObj: BpfObject;
  beforeAll(() => {
    fs = mountPrivateBpffs();
    obj = BpfObject.open(bpfObjectPath('tc_lb'), { pinRoot: fs.path }).setRodata(CONFIG_GLOBAL, encodeConfig({})).load();
    gcObj = BpfObject.open(bpfObjectPath('ct_gc'), { pinRoot: fs.path }).load();
  });
  afterAll(() => {
    gcObj?.close();
    obj?.close();
    fs?.dispose();
  });

  /** `n` live forward entries in the IPv4 map, client i at 10.244.(2 + i / 16384).2, or 10.244.0.2 when `base` is 0. */
  function addLive(n: number, base: number): void {
    const val = encodeCtVal({
      expiresNs: 1n << 62n, addr: '10.244.1.5', addr2: null, port: 8080, port2: 0, svcId: 1, backendId: 1,
      type: CT_TYPE.FWD, state: CT_STATE.ESTABLISHED, flags: 0, tcpFlagsSeen: 0,
    });
    const keys = Buffer.concat(Array.from({ length: n }, (_, i) =>
      encodeCtKey({ saddr: base ? `10.244.${base + (i >> 14)}.2` : '10.244.0.2', daddr: '10.96.0.10', sport: 1024 + (i & 0x3fff), dport: 80, proto: 'tcp' })));
    obj.map(MAP.ct4).updateBatch(keys, Buffer.concat(Array.from({ length: n }, () => val)));
  }

  it('a pass writes a byte per 64 entries, so a 64-byte read is a stretch of 4,096, and its result last', async () => {
    const ct4 = obj.map(MAP.ct4);
    const n = 10_000;
    addLive(n, 0);
    const out = await gcObj.program('gc_iter4').iterateMap(ct4, 64);
    expect(out.length).toBe(Math.floor(n / 64) + 16);
    expect(out.readUInt32LE(out.length - 16)).toBe(n); // entries
    expect(out.readUInt32LE(out.length - 8)).toBe(n); // flows
  });

  it('a pass runs off the JavaScript thread: the event loop goes on while the kernel walks the map', async () => {
    const ct4 = obj.map(MAP.ct4);
    // 60,000 more (next to what the test before left): tens of milliseconds of walking.
    const n = 60_000;
    const had = [...ct4.keys()].length;
    addLive(n, 2);
    let turns = 0;
    let done = false;
    const turn = (): void => {
      if (done) return;
      turns++;
      setImmediate(turn);
    };
    setImmediate(turn);
    const out = await gcObj.program('gc_iter4').iterateMap(ct4, 64);
    done = true;
    expect(out.readUInt32LE(out.length - 16)).toBe(n + had);
    // A pass on this thread would end before the loop turned once.
    expect(turns).toBeGreaterThan(0);
  });

  it('an iterator the kernel refuses (here: a map whose keys are too short for it) falls back to one run per map, said once', async () => {
    const fallbacks: string[] = [];
    const c = new ConntrackCollector({
      iter: [{ prog: gcObj.program('gc_iter6'), map: obj.map(MAP.ct4) }],
      now: gcObj.map('ekp_gc_now'),
      run: [gcObj.program('ct_gc4'), gcObj.program('ct_gc6')],
    }, (e) => fallbacks.push(e));
    expect(c.usesIterators).toBe(true);
    const first = await c.collect();
    expect(c.usesIterators).toBe(false);
    expect(await c.collect()).toEqual(first);
    expect(fallbacks).toHaveLength(1);
    expect(fallbacks[0]).toMatch(/bpf_link_create/);
  });
});
