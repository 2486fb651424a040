import { isBpfError, type BpfMap, type BpfProgram } from '../../native/index.js';
import { LAYOUT, encodeU32 } from './abi.js';

export interface GcResult {
  /** Entries left in both maps. */
  entries: number;
  deleted: number;
  /** Live flows: forward entries not expired, or expired with their REV entry live. */
  flows: number;
}

/** CLOCK_MONOTONIC in ns, the clock expires_ns is in (the datapath reads it at tick resolution). */
export const monotonicNs = (): bigint => process.hrtime.bigint();

const RESULT = LAYOUT.ekp_gc_result.fields;
/** The test-run packet: `now` (8 bytes), then struct ekp_gc_result; tc test-run wants a whole Ethernet header. */
const FRAME_BYTES = 64;

/**
 * Deletes expired conntrack entries of both maps (IPv4, IPv6) by running
 * ct_gc.bpf.c's programs (one per map), which tests and deletes each entry in the kernel: a collector
 * here would delete what was expired when it read the table, by then
 * possibly a new flow on a reused tuple (see the program). The LRU evicts on
 * its own when full, but an expired entry held until then would keep a dead
 * flow's SNAT port, and the table's count would say nothing.
 *
 * `now` (CLOCK_MONOTONIC ns) is for tests; by default the program reads the
 * datapath's own clock.
 */
export function collectConntrack(gc: readonly BpfProgram[], now = 0n): GcResult {
  const sum: GcResult = { entries: 0, deleted: 0, flows: 0 };
  const frame = Buffer.alloc(FRAME_BYTES);
  frame.writeBigUInt64LE(now, 0);
  for (const prog of gc) addResult(sum, prog.testRun({ data: frame }).data, 8);
  return sum;
}

/** Adds the struct ekp_gc_result at `offset` of `b` to `sum`. */
function addResult(sum: GcResult, b: Buffer, offset: number): void {
  sum.entries += b.readUInt32LE(offset + RESULT.entries.offset);
  sum.deleted += b.readUInt32LE(offset + RESULT.deleted.offset);
  sum.flows += b.readUInt32LE(offset + RESULT.flows.offset);
}

/** ct_gc.bpf.c's programs: the map iterators, each with the map it walks, and the test-run pair. */
export interface CtGcPrograms {
  iter: readonly { prog: BpfProgram; map: BpfMap }[];
  /** ekp_gc_now: `now` for the iterators' next pass. */
  now: BpfMap;
  /** ct_gc4, ct_gc6: one run visits a whole map (where a map iterator cannot be created). */
  run: readonly BpfProgram[];
}

/** The iterators write a byte per this many entries (EKP_GC_STRETCH): a read of 64 bytes is a stretch of 4,096. */
const ITER_READ_BYTES = 64;
const RESULT_BYTES = LAYOUT.ekp_gc_result.size;

/**
 * The same collection through the map iterators: the kernel ends a stretch of the pass at each
 * read (4,096 entries), where collectConntrack's runs go through a whole map without a
 * preemption point; and the reads run in libuv's thread pool, where collectConntrack's runs
 * hold this thread for the whole pass. Counts are approximate and a pass can skip some expired
 * entries for the next one (ct_gc.bpf.c says why).
 */
export async function collectConntrackIter(gc: CtGcPrograms, now = 0n): Promise<GcResult> {
  const sum: GcResult = { entries: 0, deleted: 0, flows: 0 };
  const at = encodeU32(0);
  const nowValue = Buffer.alloc(8);
  nowValue.writeBigUInt64LE(now);
  gc.now.update(at, nowValue);
  for (const { prog, map } of gc.iter) {
    const out = await prog.iterateMap(map, ITER_READ_BYTES);
    if (out.length < RESULT_BYTES) throw new Error(`conntrack GC: ${prog.name} over ${map.name} wrote ${out.length} bytes, no result`);
    addResult(sum, out, out.length - RESULT_BYTES);
  }
  return sum;
}

const REFUSALS = new Set(['EINVAL', 'EACCES', 'EOPNOTSUPP', 'ENOTSUPP', 'EPERM']);

function isRefusal(e: unknown): boolean {
  if (!isBpfError(e)) return false;
  return (e.syscall === 'bpf_link_create' || e.syscall === 'bpf_iter_create') && REFUSALS.has(e.code);
}

/**
 * The daemon's collector: the iterators, or the one-run programs from the first time an iterator
 * cannot be created on this kernel (said once, through onFallback).
 */
export class ConntrackCollector {
  private iterUnavailable = false;

  constructor(private readonly gc: CtGcPrograms, private readonly onFallback: (error: string) => void = () => {}) {}

  get usesIterators(): boolean {
    return !this.iterUnavailable && this.gc.iter.length > 0;
  }

  async collect(now = 0n): Promise<GcResult> {
    if (this.usesIterators) {
      try {
        return await collectConntrackIter(this.gc, now);
      } catch (e) {
        // Only a kernel that refuses the iterator falls back for good; anything else (ENOMEM,
        // EMFILE, a read error) fails this pass, as a failed run did, and the next pass tries again.
        if (!isRefusal(e)) throw e;
        this.iterUnavailable = true;
        this.onFallback((e as Error).message);
      }
    }
    return collectConntrack(this.gc.run, now);
  }
}
