import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { BpfMap, BpfObject, constant, isBpfError } from '../../src/native/index.js';
import { mountPrivateBpffs, type PrivateBpffs } from '../support/bpffs.js';
import { kernelIt } from '../support/capability.js';
import { FIXTURE, openFixture, sumPerCpu, u32, u64 } from './fixture.js';

const it = kernelIt();

/** An Ethernet frame of `len` bytes with recognisable MACs. */
function frame(len = 64): Buffer {
  const b = Buffer.alloc(len);
  Buffer.from([0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x00]).copy(b);
  return b;
}

describe('BpfObject: open, configure, load, test-run', () => {
  let fs: PrivateBpffs;
  beforeAll(() => {
    fs = mountPrivateBpffs();
  });
  afterAll(() => fs?.dispose());

  it('read-only globals set before load change what the program does', () => {
    const pass = openFixture({ pinRoot: fs.path });
    const drop = openFixture({ pinRoot: fs.path }, (o) => {
      o.setRodata('xdp_verdict', u32(constant('XDP_FLAGS_UPDATE_IF_NOEXIST') /* = 1 = XDP_DROP */));
      o.setRodata('mac_marker', Buffer.from([0xab]));
    });
    try {
      const p = pass.program('fx_xdp').testRun({ data: frame() });
      expect(p.retval).toBe(2); // XDP_PASS
      expect(p.data[6]).toBe(0xee); // rewritten source MAC byte, default marker
      expect(p.data.subarray(7)).toEqual(frame().subarray(7));
      const d = drop.program('fx_xdp').testRun({ data: frame() });
      expect(d.retval).toBe(1); // XDP_DROP
      expect(d.data[6]).toBe(0xab);
    } finally {
      pass.close();
      drop.close();
    }
  });

  it('test-run repeats, reports a duration, and the program really ran that often', () => {
    const obj = openFixture({ pinRoot: fs.path });
    try {
      const counters = obj.map('fx_pcpu');
      const before = sumPerCpu(counters.splitPerCpu(counters.lookup(u32(0))!));
      const r = obj.program('fx_xdp').testRun({ data: frame(), repeat: 1000 });
      expect(r.durationNs).toBeGreaterThan(0);
      const after = sumPerCpu(counters.splitPerCpu(counters.lookup(u32(0))!));
      expect(after - before).toBe(1000n);
    } finally {
      obj.close();
    }
  });

  it('async test-run gives the same verdict off the JS thread', async () => {
    const obj = openFixture({ pinRoot: fs.path });
    try {
      const r = await obj.program('fx_tc').testRunAsync({ data: frame(100), repeat: 10 });
      expect(r.retval).toBe(0); // TC_ACT_OK
      expect(obj.map('fx_hash').lookup(u32(100))?.readBigUInt64LE(0)).toBe(1n);
    } finally {
      obj.close();
    }
  });

  it('a too-short packet for XDP is the kernel\'s EINVAL, named by program', () => {
    const obj = openFixture({ pinRoot: fs.path });
    try {
      expect(() => obj.program('fx_tc').testRun({ data: Buffer.alloc(2) })).toThrow(/program fx_tc: .*EINVAL/);
    } finally {
      obj.close();
    }
  });

  it('pinned maps survive closing the object and are reused by the next load', () => {
    const first = openFixture({ pinRoot: fs.path });
    first.map('fx_hash').update(u32(4242), u64(99));
    first.close();
    expect(existsSync(join(fs.path, 'fx_hash'))).toBe(true);

    const pinned = BpfMap.openPinned(join(fs.path, 'fx_hash'));
    expect(pinned.keySize).toBe(4);
    expect(pinned.lookup(u32(4242))?.readBigUInt64LE(0)).toBe(99n);
    pinned.close();

    const second = openFixture({ pinRoot: fs.path });
    try {
      expect(second.map('fx_hash').lookup(u32(4242))?.readBigUInt64LE(0)).toBe(99n);
      // Unpinned maps start empty on every load.
      expect(second.map('fx_lru').lookup(u32(1))).toBeNull();
    } finally {
      second.close();
    }
  });

  it('loadAsync: objects sharing a pin load side by side off the JS thread; a refused load says why, with libbpf\'s log', async () => {
    const dir = join(fs.path, 'async');
    mkdirSync(dir);
    // The first creates the pin, as loadDatapath's first object does; then two reuse it at once.
    const first = await BpfObject.open(FIXTURE, { pinRoot: dir }).loadAsync();
    first.map('fx_hash').update(u32(7), u64(70));
    const pending = [BpfObject.open(FIXTURE, { pinRoot: dir }), BpfObject.open(FIXTURE, { pinRoot: dir })];
    const loads = pending.map((o) => o.loadAsync());
    // Nothing else may touch an object while its load runs.
    expect(() => pending[0]!.close()).toThrow(/being loaded/);
    const [a, b] = await Promise.all(loads);
    try {
      expect(a!.map('fx_hash').lookup(u32(7))?.readBigUInt64LE(0)).toBe(70n);
      expect(b!.program('fx_xdp').testRun({ data: frame() }).retval).toBe(2);
    } finally {
      [first, a!, b!].forEach((o) => o.close());
    }
    // A pin of another shape cannot be reused: the promise rejects as load() throws.
    const other = BpfObject.open(FIXTURE, { pinRoot: dir }).setMaxEntries('fx_hash', 2048);
    const err = await other.loadAsync().then(() => null, (e: unknown) => e);
    other.close();
    expect(isBpfError(err)).toBe(true);
    expect(err).toMatchObject({ code: 'EINVAL', syscall: 'bpf_object__load' });
    expect((err as Error).message).toMatch(/cannot load BPF object .*native_fixture\.bpf\.o[^]*fx_hash/);
    expect((err as { log?: string }).log).toMatch(/pinned map|fx_hash/);
  });

  it('bad input gives clear errors, never a crash', () => {
    expect(() => BpfObject.open('/nonexistent/x.bpf.o')).toThrow(/BPF object \/nonexistent\/x.bpf.o does not exist/);
    expect(() => BpfObject.open(FIXTURE, { pinRoot: '/nonexistent-pins' })).toThrow(/pin directory \/nonexistent-pins does not exist/);
    const obj = BpfObject.open(FIXTURE, { pinRoot: fs.path });
    try {
      expect(() => obj.setRodata('xdp_verdict', Buffer.alloc(2))).toThrow(/xdp_verdict .* is 4 bytes, got 2/);
      expect(() => obj.setRodata('no_such_global', u32(1))).toThrow(/no const volatile global named no_such_global/);
      expect(() => obj.setMaxEntries('no_such_map', 10)).toThrow(/no map named no_such_map/);
      expect(() => obj.setMaxEntries('fx_hash', 0)).toThrow(/maxEntries must be a positive integer/);
      expect(() => obj.map('fx_hash')).toThrow(/load\(\) first/);
      obj.load();
      expect(() => obj.setRodata('xdp_verdict', u32(1))).toThrow(/before load/);
    } finally {
      obj.close();
    }
  });

  it('errors carry code, errno and syscall', () => {
    try {
      BpfMap.openPinned(join(fs.path, 'missing'));
      expect.unreachable();
    } catch (e) {
      expect(isBpfError(e)).toBe(true);
      expect(e).toMatchObject({ code: 'ENOENT', errno: 2, syscall: 'bpf_obj_get' });
    }
  });
});
