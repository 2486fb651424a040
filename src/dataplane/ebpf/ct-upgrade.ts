// Flows NATed by a datapath from before ekp_ct4_v1 keep working across the upgrade:
// that datapath kept IPv4 flows in ekp_ct_v1 under the long key (family 4); the new
// programs look them up in ekp_ct4_v1 under the short one.
import type { BpfMap } from '../../native/index.js';
import { LAYOUT, MAP, SIZE, decodeCtKey, encodeCtKey } from './abi.js';

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

/**
 * Copies the flows of resized conntrack maps into the new ones (an entry the
 * new programs already wrote wins) and closes the old maps. Run it after the
 * new programs are loaded and before they replace the old ones on the devices,
 * as moveIpv4Flows. Returns how many entries were carried.
 */
export function carryFlows(old: readonly BpfMap[], maps: Record<keyof typeof MAP, BpfMap>): number {
  let carried = 0;
  for (const from of old) {
    const to = from.keySize === maps.ct4.keySize ? maps.ct4 : maps.ct;
    for (const [k, v] of from.entries()) {
      try {
        // An older map may be bigger than the new one: the LRU then evicts as it fills, in the old
        // map's bucket order, not by age, and may split a flow's two entries.
        to.update(k, v, 'noexist');
        carried++;
      } catch (e) {
        if ((e as { code?: string }).code !== 'EEXIST') throw e;
      }
    }
    from.close();
  }
  return carried;
}

/**
 * The flows a previous datapath left, into this one's maps: those of resized conntrack maps
 * first (a resized IPv6 map of a release before ekp_ct4_v1 still holds IPv4 flows), then
 * the IPv4 flows out of the IPv6 map.
 */
export function adoptPreviousFlows(resizedCt: readonly BpfMap[], maps: Record<keyof typeof MAP, BpfMap>): { carried: number; moved: number } {
  const carried = carryFlows(resizedCt, maps);
  return { carried, moved: moveIpv4Flows(maps.ct, maps.ct4) };
}
