// The slot pool of the previous datapath (ekp_slots_v1, one id per entry) is copied
// into ekp_slots_v2 slot for slot, so adopted service entries keep their tables.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { MAP, encodeSvcKey, encodeSvcVal } from '../../src/dataplane/ebpf/abi.js';
import { LEGACY_SLOTS_MAP, moveLegacySlots } from '../../src/dataplane/ebpf/slots-upgrade.js';
import { BpfMap } from '../../src/native/index.js';
import { mountPrivateBpffs, type PrivateBpffs } from '../support/bpffs.js';
import { kernelIt } from '../support/capability.js';
import { buildPacket, parsePacket } from '../support/packet.js';
import { Datapath, TC } from './datapath.js';
import { FROM_PODS } from './fixtures.js';

const it = kernelIt();

const u32s = (xs: number[]) => Buffer.from(new Uint32Array(xs).buffer);

describe('slot pool upgrade: ekp_slots_v1 is copied into ekp_slots_v2', () => {
  let fs: PrivateBpffs;
  beforeAll(() => { fs = mountPrivateBpffs(); });
  afterAll(() => fs?.dispose());

  it('copies ids to the same slot numbers, unpins the old pool, and an adopted entry at an odd slot still balances', () => {
    const legacy = join(fs.path, LEGACY_SLOTS_MAP);
    execFileSync('bpftool', ['map', 'create', legacy, 'type', 'array', 'key', '4', 'value', '4', 'entries', '64', 'name', LEGACY_SLOTS_MAP]);
    const old = BpfMap.openPinned(legacy);
    old.updateBatch(u32s([0, 1, 2, 3, 4]), u32s([5, 5, 6, 7, 7]));
    old.close();

    const dp = new Datapath(fs.path);
    try {
      const slots = dp.map(MAP.slots);
      expect(moveLegacySlots(fs.path, slots)).toBe(5);
      expect(existsSync(legacy)).toBe(false);
      expect(moveLegacySlots(fs.path, slots)).toBe(0);
      expect([0, 1, 2].map((e) => [...new Uint32Array(new Uint8Array(slots.lookup(u32s([e]))!).buffer)])).toEqual([[5, 5], [6, 7], [7, 0]]);

      // As the previous writer left it: a one-slot region at slot 3.
      dp.setBackend(7, { addr: '10.244.1.7', port: 8080 });
      dp.map(MAP.svc).update(encodeSvcKey({ addr: '10.96.0.30', port: 80, proto: 'tcp' }), encodeSvcVal({ svcId: 9, slotOff: 3, slotLen: 1 }));
      const syn = buildPacket({ src: '10.244.0.2', dst: '10.96.0.30', proto: 'tcp', sport: 40000, dport: 80, tcpFlags: { syn: true } });
      const r = dp.program('tc_ingress', FROM_PODS).testRun({ data: syn });
      expect(r.retval).toBe(TC.pass);
      expect(parsePacket(r.data)).toMatchObject({ dst: '10.244.1.7', dport: 8080, ipChecksumOk: true, l4ChecksumOk: true });
    } finally {
      dp.close();
    }
  });
});
