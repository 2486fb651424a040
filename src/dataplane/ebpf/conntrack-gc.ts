import type { BpfMap } from '../../native/index.js';
import { CT_TYPE, decodeCtKey, decodeCtVal, type Family } from './abi.js';

export interface GcResult {
  entries: number;
  deleted: number;
  /** Live flows (forward entries not yet expired). */
  flows: number;
}

/** CLOCK_MONOTONIC in ns, the clock expires_ns is in (the datapath reads it at tick resolution, a tick behind at most). */
export const monotonicNs = (): bigint => process.hrtime.bigint();

/**
 * Deletes expired conntrack entries (of every map given: IPv4 and IPv6). The LRU evicts on its own when full, but
 * an expired entry held until then would keep a dead flow's SNAT port and
 * its slot; deleting them keeps the table's count meaningful as a metric.
 */
export function collectConntrack(maps: BpfMap | readonly BpfMap[], now: bigint = monotonicNs()): GcResult {
  const sum: GcResult = { entries: 0, deleted: 0, flows: 0 };
  for (const ct of Array.isArray(maps) ? maps : [maps]) {
    const expired: Buffer[] = [];
    let entries = 0;
    for (const [k, v] of ct.entries()) {
      entries++;
      const key = decodeCtKey(k);
      const val = decodeCtVal(v, key.family as Family);
      if (val.expiresNs < now) expired.push(Buffer.from(k));
      else if (val.type === CT_TYPE.FWD) sum.flows++;
    }
    const deleted = expired.length ? ct.deleteBatch(Buffer.concat(expired)) : 0;
    sum.entries += entries - deleted;
    sum.deleted += deleted;
  }
  return sum;
}
