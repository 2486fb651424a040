import type { BpfProgram } from '../../native/index.js';
import { LAYOUT } from './abi.js';

export interface GcResult {
  /** Entries left in both maps. */
  entries: number;
  deleted: number;
  /** Live flows (forward entries not yet expired). */
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
  for (const prog of gc) {
    const { data } = prog.testRun({ data: frame });
    const at = (o: number) => data.readUInt32LE(8 + o);
    sum.entries += at(RESULT.entries.offset);
    sum.deleted += at(RESULT.deleted.offset);
    sum.flows += at(RESULT.flows.offset);
  }
  return sum;
}
