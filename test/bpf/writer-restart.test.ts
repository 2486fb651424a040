// A restarted writer over the kernel's maps: it reads the slot pool back (array-map batch
// lookups), keeps the regions that already hold what it would write, and the datapath it
// leaves balances as before.
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { MAP, SLOTS_PER_ENTRY, decodeSvcVal, encodeSvcKey } from '../../src/dataplane/ebpf/abi.js';
import { ServiceWriter } from '../../src/dataplane/ebpf/writer.js';
import { buildDesiredState } from '../../src/model/index.js';
import { mountPrivateBpffs, type PrivateBpffs } from '../support/bpffs.js';
import { kernelIt } from '../support/capability.js';
import { buildPacket, parsePacket } from '../support/packet.js';
import { ep, NODE, slice, svc } from '../unit/model/fixtures.js';
import { Datapath, TC } from './datapath.js';
import { FROM_PODS } from './fixtures.js';

const it = kernelIt();

describe('ServiceWriter restarted over real maps', () => {
  let fs: PrivateBpffs;
  let dp: Datapath;
  beforeAll(() => {
    fs = mountPrivateBpffs();
    dp = new Datapath(fs.path);
  });
  afterAll(() => {
    dp?.close();
    fs?.dispose();
  });

  it('reads every adopted region back and rewrites only the service that changed while it was down', () => {
    const maps = { svc: dp.map(MAP.svc), backend: dp.map(MAP.backend), slots: dp.map(MAP.slots), srcRange: dp.map(MAP.srcRange) };
    const writer = () => new ServiceWriter(maps, {
      algorithm: 'maglev',
      sizes: { svcIds: maps.svc.maxEntries, backends: maps.backend.maxEntries, slots: maps.slots.maxEntries * SLOTS_PER_ENTRY },
    });
    const services = Array.from({ length: 20 }, (_, i) => svc({ name: `s${i}`, spec: { clusterIP: `10.96.1.${i + 1}`, clusterIPs: [`10.96.1.${i + 1}`] } }));
    const pods = (i: number, n: number) => slice({ service: `s${i}`, endpoints: Array.from({ length: n }, (_, j) => ep(`10.244.${i}.${j + 1}`)) });
    const state = (last: number) => buildDesiredState({ services, endpointSlices: services.map((_, i) => pods(i, i === 19 ? last : 3)), node: NODE }).state;
    const first = writer().apply({ state: state(3), changed: 'all' });
    expect(first.slotsWritten).toBeGreaterThan(0);

    const again = writer();
    again.adopt();
    const restart = again.apply({ state: state(2), changed: 'all' });
    // One Maglev table, s19's (smaller: its size follows the backend count), is new; the other
    // 19 regions were found as they should be.
    const s19 = decodeSvcVal(maps.svc.lookup(encodeSvcKey({ addr: '10.96.1.20', port: 80, proto: 'tcp' }))!);
    expect(restart.slotsWritten).toBe(s19.slotLen);
    // s19's old region went after the flip: no second copy of anything stays.
    expect(again.usage().slots).toBeLessThan(first.slotsWritten);

    const syn = buildPacket({ src: '10.244.0.2', dst: '10.96.1.5', proto: 'tcp', sport: 40001, dport: 80, tcpFlags: { syn: true } });
    const r = dp.program('tc_ingress', FROM_PODS).testRun({ data: syn });
    expect(r.retval).toBe(TC.pass);
    expect(parsePacket(r.data).dst).toMatch(/^10\.244\.4\.[123]$/);
  });
});
