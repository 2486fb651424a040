// The datapath before ekp_slots_v2 kept one backend id per entry in ekp_slots_v1. The
// service entries a new instance adopts still point into that pool (slot_off, slot_len)
// until its first sync rewrites them, so the old pool is copied slot for slot first.
import { existsSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { BpfMap } from '../../native/index.js';
import { LAYOUT, SLOTS_PER_ENTRY } from './abi.js';

export const LEGACY_SLOTS_MAP = 'ekp_slots_v1';

/**
 * Copies the old pool's ids into `slots` (ekp_slots_v2) at the same slot numbers and
 * unpins the old pool. Run it before the new programs are attached. Returns how many
 * slots held an id.
 */
export function moveLegacySlots(pinDir: string, slots: BpfMap): number {
  const path = join(pinDir, LEGACY_SLOTS_MAP);
  if (!existsSync(path)) return 0;
  const old = BpfMap.openPinned(path);
  const entries = new Map<number, Buffer>();
  let ids = 0;
  try {
    const capacity = slots.maxEntries * SLOTS_PER_ENTRY;
    for (const [k, v] of old.entries()) {
      const slot = k.readUInt32LE(0);
      const id = v.readUInt32LE(0);
      if (id === 0 || slot >= capacity) continue;
      const e = Math.floor(slot / SLOTS_PER_ENTRY);
      let val = entries.get(e);
      if (!val) entries.set(e, (val = Buffer.alloc(LAYOUT.ekp_slot_pair.size)));
      val.writeUInt32LE(id, (slot % SLOTS_PER_ENTRY) * 4);
      ids++;
    }
  } finally {
    old.close();
  }
  if (entries.size) {
    const keys = Buffer.allocUnsafe(entries.size * 4);
    let i = 0;
    for (const e of entries.keys()) keys.writeUInt32LE(e, 4 * i++);
    slots.updateBatch(keys, Buffer.concat([...entries.values()]));
  }
  unlinkSync(path);
  return ids;
}
