// Which failures of a map iterator switch the daemon's conntrack GC to one run per map for good.
import { describe, expect, it } from 'vitest';
import { ConntrackCollector, type CtGcPrograms } from '../../../../src/dataplane/ebpf/conntrack-gc.js';
import type { BpfMap, BpfProgram } from '../../../../src/native/index.js';

function bpfError(syscall: string, code: string): Error {
  return Object.assign(new Error(`map iterator: failed (${code} from ${syscall})`), { syscall, code, errno: 1 });
}

/** An iterator that fails as given; the one-run programs answer with 16 zero bytes of result. */
function programs(fail: () => Error): { gc: CtGcPrograms; runs: () => number } {
  let runs = 0;
  const map = { name: 'ekp_ct4_v2', fd: 3, update: () => {} } as unknown as BpfMap;
  const iterProg = { name: 'gc_iter4', iterateMap: async () => { throw fail(); } } as unknown as BpfProgram;
  const runProg = { name: 'ct_gc4', testRun: () => { runs++; return { retval: 0, data: Buffer.alloc(64), ctx: Buffer.alloc(0), durationNs: 0 }; } } as unknown as BpfProgram;
  return { gc: { iter: [{ prog: iterProg, map }], now: map, run: [runProg] }, runs: () => runs };
}

describe('ConntrackCollector', () => {
  it.each(['EINVAL', 'EACCES', 'EOPNOTSUPP'])('a kernel that refuses the iterator (%s from bpf_link_create): one run per map from then on, said once', async (code) => {
    const p = programs(() => bpfError('bpf_link_create', code));
    const said: string[] = [];
    const c = new ConntrackCollector(p.gc, (e) => said.push(e));
    expect(await c.collect()).toEqual({ entries: 0, deleted: 0, flows: 0 });
    await c.collect();
    expect(c.usesIterators).toBe(false);
    expect(p.runs()).toBe(2);
    expect(said).toHaveLength(1);
  });

  it.each([['bpf_link_create', 'EMFILE'], ['bpf_iter_create', 'ENOMEM'], ['read', 'EINVAL']])('a passing failure (%s %s) fails this pass and keeps the iterators', async (syscall, code) => {
    const p = programs(() => bpfError(syscall, code));
    const c = new ConntrackCollector(p.gc, () => { throw new Error('must not fall back'); });
    await expect(c.collect()).rejects.toThrow(code);
    expect(c.usesIterators).toBe(true);
    expect(p.runs()).toBe(0);
  });
});
