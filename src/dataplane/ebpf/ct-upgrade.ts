// Flows NATed by an earlier datapath keep working across an upgrade. Its conntrack maps
// are of layout v1 (ekp_ct4_v1, ekp_ct_v1): values without the cached next hop; a release
// before ekp_ct4_v1 even kept IPv4 flows in ekp_ct_v1 under the long key (family 4). The
// v2 maps also change size with the configuration, which recreates them.
import { existsSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { BpfMap } from '../../native/index.js';
import { LAYOUT, MAP, SIZE, decodeCtKey, encodeCtKey } from './abi.js';

const FAMILY_OFFSET = LAYOUT.ekp_ct_key.fields.family.offset;

/** Writes k → v unless the map has k already (what the running programs wrote wins); whether it wrote. */
function insertIfAbsent(map: BpfMap, k: Buffer, v: Buffer): boolean {
  try {
    map.update(k, v, 'noexist');
    return true;
  } catch (e) {
    if ((e as { code?: string }).code !== 'EEXIST') throw e;
    return false;
  }
}

/** The layout-v1 conntrack maps, IPv4 first; their values are the first V1_VALUE_SIZE bytes of a v2 value. */
export const V1_CT_MAPS = ['ekp_ct4_v1', 'ekp_ct_v1'] as const;
export const V1_VALUE_SIZE = LAYOUT.ekp_ct_val.fields.nh_oif.offset;

/**
 * Copies every flow of the pinned v1 conntrack maps in pinDir into the v2 maps (the next
 * hop left empty: the first packet looks it up; an IPv4 flow under the long key into
 * ct4). An entry already there wins. Run it after the new programs are loaded and before
 * they replace the old ones on the devices, then again with `unpin` once they have: the
 * old programs go on writing v1 until replaced, and the second pass takes what they
 * opened meanwhile and unpins the v1 maps. Returns how many entries were copied.
 */
export function moveV1Flows(pinDir: string, maps: { ct: BpfMap; ct4: BpfMap }, unpin: boolean): number {
  let moved = 0;
  for (const name of V1_CT_MAPS) {
    const path = join(pinDir, name);
    if (!existsSync(path)) continue;
    const old = BpfMap.openPinned(path);
    try {
      // Not ours after all (our pin directory holds nothing else by these names): left alone.
      if (old.valueSize !== V1_VALUE_SIZE) continue;
      for (const [k, v] of old.entries()) {
        const value = Buffer.alloc(SIZE.ekp_ct_val);
        v.copy(value);
        let key = k;
        let to = maps.ct4;
        if (k.length === SIZE.ekp_ct_key) {
          if (k[FAMILY_OFFSET] === 4) key = encodeCtKey(decodeCtKey(k));
          else to = maps.ct;
        }
        if (insertIfAbsent(to, key, value)) moved++;
      }
      if (unpin) unlinkSync(path);
    } finally {
      old.close();
    }
  }
  return moved;
}

/**
 * Copies the flows of resized conntrack maps into the new ones (an entry the
 * new programs already wrote wins) and closes the old maps. Run it after the
 * new programs are loaded and before they replace the old ones on the devices,
 * as moveV1Flows. Returns how many entries were carried.
 */
export function carryFlows(old: readonly BpfMap[], maps: Record<keyof typeof MAP, BpfMap>): number {
  let carried = 0;
  for (const from of old) {
    const to = from.keySize === maps.ct4.keySize ? maps.ct4 : maps.ct;
    // An older map may be bigger than the new one: the LRU then evicts as it fills, in the old
    // map's bucket order, not by age, and may split a flow's two entries.
    for (const [k, v] of from.entries()) if (insertIfAbsent(to, k, v)) carried++;
    from.close();
  }
  return carried;
}

/**
 * The flows a previous datapath left, into this one's maps: those of resized conntrack maps,
 * then those of the v1 layout (its first pass: see moveV1Flows).
 */
export function adoptPreviousFlows(pinDir: string, resizedCt: readonly BpfMap[], maps: Record<keyof typeof MAP, BpfMap>): { carried: number; moved: number } {
  const carried = carryFlows(resizedCt, maps);
  return { carried, moved: moveV1Flows(pinDir, maps, false) };
}
