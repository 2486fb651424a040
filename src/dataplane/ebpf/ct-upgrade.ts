// Flows NATed by a datapath from before ekp_ct4_v1 keep working across the upgrade:
// that datapath kept IPv4 flows in ekp_ct_v1 under the long key (family 4); the new
// programs look them up in ekp_ct4_v1 under the short one.
import type { BpfMap } from '../../native/index.js';
import { LAYOUT, SIZE, decodeCtKey, encodeCtKey } from './abi.js';

const FAMILY_OFFSET = LAYOUT.ekp_ct_key.fields.family.offset;

/**
 * Moves every IPv4 entry of the IPv6 map (`ct`, ekp_ct_v1) into `ct4`. Run it after the
 * new programs are loaded and before they replace the old ones on the devices. An entry
 * the new programs already wrote wins. Returns how many entries moved.
 */
export function moveIpv4Flows(ct: BpfMap, ct4: BpfMap): number {
  const legacy: Buffer[] = [];
  let moved = 0;
  for (const [k, v] of ct.entries()) {
    if (k.length !== SIZE.ekp_ct_key || k[FAMILY_OFFSET] !== 4) continue;
    legacy.push(Buffer.from(k));
    try {
      ct4.update(encodeCtKey(decodeCtKey(k)), v, 'noexist');
      moved++;
    } catch (e) {
      if ((e as { code?: string }).code !== 'EEXIST') throw e;
    }
  }
  if (legacy.length) ct.deleteBatch(Buffer.concat(legacy));
  return moved;
}
