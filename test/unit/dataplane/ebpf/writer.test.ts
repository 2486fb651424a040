import { describe, expect, it } from 'vitest';
import { LAYOUT, SVC_F, decodeAffinityVal, decodeBackendVal, decodeSvcKey, decodeSvcVal, encodeAffinityKey, encodeAffinityVal, encodeSrcRangeKey } from '../../../../src/dataplane/ebpf/abi.js';
import { ServiceWriter, type LbAlgorithm } from '../../../../src/dataplane/ebpf/writer.js';
import { buildDesiredState, type DesiredState } from '../../../../src/model/index.js';
import { ep, NODE, slice, svc } from '../../model/fixtures.js';
import { FakeMap } from './fake-map.js';

function maps(log: string[] = []) {
  return {
    svc: new FakeMap('svc', LAYOUT.ekp_svc_key.size, LAYOUT.ekp_svc_val.size, log),
    backend: new FakeMap('backend', 4, LAYOUT.ekp_backend_val.size, log),
    slots: new FakeMap('slots', 4, LAYOUT.ekp_slot_pair.size, log),
    srcRange: new FakeMap('srcRange', LAYOUT.ekp_srcrange_key.size, 4, log),
  };
}
type Maps = ReturnType<typeof maps>;

const FLAG_NAMES = Object.entries(SVC_F);

/** The maps as readable rows: frontend scope → backends in slot order, flags. */
function dump(m: Maps): string[] {
  const backends = new Map<number, string>();
  for (const [k, v] of m.backend.entries()) {
    const b = decodeBackendVal(v);
    if (b) backends.set(k.readUInt32LE(0), `${b.addr}:${b.port}${b.flags & 1 ? 'L' : ''}${b.flags & 2 ? 'T' : ''}`);
  }
  // Slot i is half i % 2 of entry i / 2.
  const slot = (i: number) => m.slots.data.get(Buffer.from(new Uint32Array([i >> 1]).buffer).toString('hex'))!.readUInt32LE((i & 1) * 4);
  return [...m.svc.entries()].map(([k, v]) => {
    const key = decodeSvcKey(k);
    const val = decodeSvcVal(v);
    const ids = Array.from({ length: val.slotLen }, (_, i) => slot(val.slotOff + i));
    const uniq = [...new Set(ids)].map((id) => backends.get(id) ?? `missing#${id}`).sort();
    const flags = FLAG_NAMES.filter(([, bit]) => val.flags & bit).map(([n]) => n).join(',');
    return `${key.addr}:${key.port}/${key.proto} ${key.scope} -> [${uniq.join(' ')}]${val.slotLen !== uniq.length ? ` x${val.slotLen}` : ''} ${flags}`;
  }).sort();
}

function desired(objects: { services: unknown[]; endpointSlices: unknown[] }): DesiredState {
  return buildDesiredState({ ...objects, node: NODE }).state;
}

const writerFor = (m: Maps, algorithm: LbAlgorithm = 'random') => new ServiceWriter(m, { algorithm, sizes: { svcIds: 1024, backends: 1024, slots: 65536 } });
/** A random-layout writer with little room: `slots` slots, and `svcEntries` service entries if given. */
const writerSized = (m: Maps, slots: number, svcEntries?: number) =>
  new ServiceWriter(m, { algorithm: 'random', sizes: { svcIds: 1024, backends: 1024, slots, ...(svcEntries ? { svcEntries } : {}) } });
/** n pods of a service, at 10.244.<net>.1 and up. */
const podsOf = (service: string, n: number, net: number) => slice({ service, endpoints: Array.from({ length: n }, (_, i) => ep(`10.244.${net}.${i + 1}`)) });
const nodePortSvc = (name: string, ip: string, nodePort: number) =>
  svc({ name, spec: { type: 'NodePort', clusterIP: ip, clusterIPs: [ip], ports: [{ name: 'http', port: 80, nodePort, targetPort: 8080, protocol: 'TCP' }] } });
const big = svc({ name: 'big', spec: { clusterIP: '10.96.0.30', clusterIPs: ['10.96.0.30'] } });

const web = svc();
const twoPods = slice({ endpoints: [ep('10.244.1.5', { node: 'node-a' }), ep('10.244.2.6', { node: 'node-b' })] });

describe('ServiceWriter', () => {
  it('ClusterIP: one entry, a slot per backend, backends by id', () => {
    const m = maps();
    writerFor(m).apply({ state: desired({ services: [web], endpointSlices: [twoPods] }), changed: 'all' });
    expect(dump(m)).toEqual(['10.96.0.10:80/6 external -> [10.244.1.5:8080L 10.244.2.6:8080] ']);
  });

  it('NodePort eTP=Local: the external scope gets local backends and keeps the source; pods short-circuit to all', () => {
    const m = maps();
    const np = svc({ spec: { type: 'NodePort', externalTrafficPolicy: 'Local', healthCheckNodePort: 32000, ports: [{ name: 'http', port: 80, nodePort: 30080, targetPort: 8080, protocol: 'TCP' }] } });
    writerFor(m).apply({ state: desired({ services: [np], endpointSlices: [twoPods] }), changed: 'all' });
    expect(dump(m)).toEqual([
      '10.0.0.5:30080/6 external -> [10.244.1.5:8080L] PRESERVE_SRC,TWO_SCOPES,NODEPORT,LOCAL_SET',
      '10.0.0.5:30080/6 internal -> [10.244.1.5:8080L 10.244.2.6:8080] NODEPORT',
      '10.96.0.10:80/6 external -> [10.244.1.5:8080L 10.244.2.6:8080] ',
      '192.168.1.10:30080/6 external -> [10.244.1.5:8080L] PRESERVE_SRC,TWO_SCOPES,NODEPORT,LOCAL_SET',
      '192.168.1.10:30080/6 internal -> [10.244.1.5:8080L 10.244.2.6:8080] NODEPORT',
    ]);
  });

  it('iTP=Local: the ClusterIP entry picks from the local set, and says so (its affinity is kept apart from the cluster set\'s)', () => {
    const m = maps();
    const np = svc({ spec: { type: 'NodePort', internalTrafficPolicy: 'Local', sessionAffinity: 'ClientIP', ports: [{ name: 'http', port: 80, nodePort: 30080, targetPort: 8080, protocol: 'TCP' }] } });
    writerFor(m).apply({ state: desired({ services: [np], endpointSlices: [twoPods] }), changed: 'all' });
    expect(dump(m)).toEqual([
      '10.0.0.5:30080/6 external -> [10.244.1.5:8080L 10.244.2.6:8080] AFFINITY,NODEPORT',
      '10.96.0.10:80/6 external -> [10.244.1.5:8080L] AFFINITY,LOCAL_SET',
      '192.168.1.10:30080/6 external -> [10.244.1.5:8080L 10.244.2.6:8080] AFFINITY,NODEPORT',
    ]);
  });

  it('eTP=Local with no local endpoint drops externally; no endpoints at all rejects (no DROP_EMPTY)', () => {
    const m = maps();
    const lb = svc({
      spec: { type: 'LoadBalancer', externalTrafficPolicy: 'Local', loadBalancerSourceRanges: ['192.0.2.0/24'], ports: [{ name: 'http', port: 80, nodePort: 30080, targetPort: 8080, protocol: 'TCP' }] },
      status: { loadBalancer: { ingress: [{ ip: '198.51.100.7' }] } },
    });
    const remoteOnly = slice({ endpoints: [ep('10.244.2.6', { node: 'node-b' })] });
    const w = writerFor(m);
    w.apply({ state: desired({ services: [lb], endpointSlices: [remoteOnly] }), changed: 'all' });
    expect(dump(m).filter((r) => r.startsWith('198.51.100.7'))).toEqual([
      '198.51.100.7:80/6 external -> [] PRESERVE_SRC,TWO_SCOPES,SRC_RANGES,DROP_EMPTY,EXTERNAL,LOCAL_SET',
      '198.51.100.7:80/6 internal -> [10.244.2.6:8080] SRC_RANGES,EXTERNAL',
    ]);
    expect(m.srcRange.data.size).toBe(1);
    w.apply({ state: desired({ services: [lb], endpointSlices: [] }), changed: 'all' });
    expect(dump(m).filter((r) => r.startsWith('198.51.100.7'))).toEqual(['198.51.100.7:80/6 external -> [] PRESERVE_SRC,SRC_RANGES,EXTERNAL,LOCAL_SET']);
  });

  it('source ranges: one LPM entry per admitted source; a range holding the node\'s IP admits the LB IP too, a nested range folds in', () => {
    const m = maps();
    const lb = svc({
      spec: { type: 'LoadBalancer', loadBalancerSourceRanges: ['192.168.1.0/24', '192.168.1.128/25', '203.0.113.0/24'], ports: [{ name: 'http', port: 80, nodePort: 30080, targetPort: 8080, protocol: 'TCP' }] },
      status: { loadBalancer: { ingress: [{ ip: '198.51.100.7' }] } },
    });
    writerFor(m).apply({ state: desired({ services: [lb], endpointSlices: [twoPods] }), changed: 'all' });
    const svcId = [...m.srcRange.data.keys()].map((k) => Buffer.from(k, 'hex').readUInt32LE(LAYOUT.ekp_srcrange_key.fields.svc_id.offset))[0]!;
    expect(new Set(m.srcRange.data.keys())).toEqual(new Set(['192.168.1.0/24', '203.0.113.0/24', '198.51.100.7/32'].map((c) => encodeSrcRangeKey(svcId, c).toString('hex'))));
  });

  it('an ExternalIP that is one of the node\'s addresses is flagged NODE_ADDR (its replies carry it as source); others are not', () => {
    const m = maps();
    const ext = svc({ spec: { clusterIP: '10.96.0.10', clusterIPs: ['10.96.0.10'], externalIPs: ['192.168.1.10', '203.0.113.10'] } });
    new ServiceWriter(m, { algorithm: 'random', sizes: { svcIds: 1024, backends: 1024, slots: 65536 }, isNodeAddress: (a) => a === '192.168.1.10' })
      .apply({ state: desired({ services: [ext], endpointSlices: [twoPods] }), changed: 'all' });
    expect(dump(m).filter((r) => !r.startsWith('10.96.'))).toEqual([
      '192.168.1.10:80/6 external -> [10.244.1.5:8080L 10.244.2.6:8080] EXTERNAL,NODE_ADDR',
      '203.0.113.10:80/6 external -> [10.244.1.5:8080L 10.244.2.6:8080] EXTERNAL',
    ]);
  });

  it('affinity and Maglev flags; a Maglev table is a prime-sized region', () => {
    const m = maps();
    const aff = svc({ spec: { sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 60 } } } });
    writerFor(m, 'maglev').apply({ state: desired({ services: [aff], endpointSlices: [twoPods] }), changed: 'all' });
    expect(dump(m)).toEqual(['10.96.0.10:80/6 external -> [10.244.1.5:8080L 10.244.2.6:8080] x251 AFFINITY,MAGLEV']);
    const val = decodeSvcVal([...m.svc.entries()][0]![1]);
    expect(val.affinityTimeoutS).toBe(60);
  });

  it('ClientIP affinity: an entry whose backend left the service, or whose service went, is deleted before the id is freed', () => {
    const m = { ...maps(), affinity: new FakeMap('affinity', LAYOUT.ekp_affinity_key.size, LAYOUT.ekp_affinity_val.size) };
    const w = new ServiceWriter(m, { algorithm: 'random', sizes: { svcIds: 1024, backends: 1024, slots: 65536 } });
    const aff = svc({ spec: { sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 60 } } } });
    expect(w.apply({ state: desired({ services: [aff], endpointSlices: [twoPods] }), changed: 'all' }).affinityDeleted).toBe(0);
    const svcId = decodeSvcVal([...m.svc.entries()][0]![1]).svcId;
    const idOf = new Map([...m.backend.entries()].map(([k, v]) => [decodeBackendVal(v)!.addr, k.readUInt32LE(0)]));
    const gone = idOf.get('10.244.2.6')!;
    m.affinity.update(encodeAffinityKey(svcId, '10.0.9.1'), encodeAffinityVal(1n, idOf.get('10.244.1.5')!));
    m.affinity.update(encodeAffinityKey(svcId, '10.0.9.2'), encodeAffinityVal(1n, gone));
    m.affinity.update(encodeAffinityKey(svcId + 1, '10.0.9.3'), encodeAffinityVal(1n, gone)); // a service since deleted

    const moved = slice({ endpoints: [ep('10.244.1.5', { node: 'node-a' }), ep('10.244.3.7', { node: 'node-c' })] });
    const stats = w.apply({ state: desired({ services: [aff], endpointSlices: [moved] }), changed: new Set(['default/web:http']) });
    expect(stats).toMatchObject({ affinityDeleted: 2, backendsFreed: 1 });
    expect([...m.affinity.entries()].map(([, v]) => decodeAffinityVal(v).backendId)).toEqual([idOf.get('10.244.1.5')]);

    // The service goes: its entries go with it.
    w.apply({ state: desired({ services: [], endpointSlices: [] }), changed: new Set(['default/web:http']) });
    expect(m.affinity.data.size).toBe(0);
  });

  it('an endpoint change writes backends, then the new region, then flips the entry, and frees the old backend', () => {
    const log: string[] = [];
    const m = maps(log);
    const w = writerFor(m);
    w.apply({ state: desired({ services: [web], endpointSlices: [twoPods] }), changed: 'all' });
    log.length = 0;
    const moved = slice({ endpoints: [ep('10.244.1.5', { node: 'node-a' }), ep('10.244.3.7', { node: 'node-c' })] });
    const stats = w.apply({ state: desired({ services: [web], endpointSlices: [moved] }), changed: new Set(['default/web:http']) });
    expect(log).toEqual(['backend updateBatch 1', 'slots updateBatch 1', 'svc updateBatch 1', 'backend updateBatch 1']); // two slots: one entry
    expect(stats).toMatchObject({ svcEntriesWritten: 1, slotsWritten: 2, backendsWritten: 1, backendsFreed: 1 });
    expect(dump(m)).toEqual(['10.96.0.10:80/6 external -> [10.244.1.5:8080L 10.244.3.7:8080] ']);
    expect(w.usage()).toEqual({ svcIds: 1, backends: 2, slots: 2 });
  });

  it('a no-op partial apply touches nothing; removing a service frees everything', () => {
    const log: string[] = [];
    const m = maps(log);
    const w = writerFor(m);
    const state = desired({ services: [web], endpointSlices: [twoPods] });
    w.apply({ state, changed: 'all' });
    log.length = 0;
    w.apply({ state, changed: new Set(['default/web:http']) });
    expect(log).toEqual([]);
    w.apply({ state: desired({ services: [], endpointSlices: [] }), changed: new Set(['default/web:http']) });
    expect(m.svc.data.size).toBe(0);
    expect([...m.backend.data.values()].every((v) => v.every((b) => b === 0))).toBe(true);
    expect(w.usage()).toEqual({ svcIds: 0, backends: 0, slots: 0 });
  });

  it('a periodic sync between full ones (every key, not \'all\') writes only services whose object changed', () => {
    const log: string[] = [];
    const m = maps(log);
    const w = writerFor(m);
    const other = svc({ name: 'api', spec: { clusterIP: '10.96.0.11', clusterIPs: ['10.96.0.11'] } });
    const otherPods = slice({ service: 'api', endpoints: [ep('10.244.2.9', { node: 'node-b' })] });
    const state = desired({ services: [web, other], endpointSlices: [twoPods, otherPods] });
    w.apply({ state, changed: 'all' });
    log.length = 0;
    // The same objects (the tracker keeps them while their inputs are unchanged): nothing at all.
    w.apply({ state, changed: new Set(w.programmedKeys()) });
    expect(log).toEqual([]);
    // One service's object replaced: only its entry and backend move.
    const moved = slice({ endpoints: [ep('10.244.1.5', { node: 'node-a' }), ep('10.244.3.7', { node: 'node-c' })] });
    const next = new Map(state.services);
    for (const [k, v] of desired({ services: [web], endpointSlices: [moved] }).services) next.set(k, v);
    const stats = w.apply({ state: { services: next }, changed: new Set(w.programmedKeys()) });
    expect(stats).toMatchObject({ svcEntriesWritten: 1, backendsWritten: 1, backendsFreed: 1 });
    expect(dump(m)).toEqual([
      '10.96.0.10:80/6 external -> [10.244.1.5:8080L 10.244.3.7:8080] ',
      '10.96.0.11:80/6 external -> [10.244.2.9:8080] ',
    ]);
    // 'all' is still a full sync: every entry is written again.
    expect(w.apply({ state: { services: next }, changed: 'all' }).svcEntriesWritten).toBe(2);
  });

  it('two services claiming one external IP: the first keeps the entry; when it goes, the other takes it at once', () => {
    const m = maps();
    const w = writerFor(m);
    const a = svc({ name: 'a', spec: { clusterIP: '10.96.0.1', clusterIPs: ['10.96.0.1'], externalIPs: ['203.0.113.10'] } });
    const b = svc({ name: 'b', spec: { clusterIP: '10.96.0.2', clusterIPs: ['10.96.0.2'], externalIPs: ['203.0.113.10'] } });
    const bPods = slice({ service: 'b', endpoints: [ep('10.244.3.3', { node: 'node-b' })] });
    const both = desired({ services: [a, b], endpointSlices: [slice({ service: 'a', endpoints: [ep('10.244.1.5', { node: 'node-a' })] }), bPods] });
    const stats = w.apply({ state: both, changed: 'all' });
    expect(stats.entriesLeftOut).toBe(1);
    expect(dump(m).filter((r) => r.startsWith('203.0.113.10'))).toEqual(['203.0.113.10:80/6 external -> [10.244.1.5:8080L] EXTERNAL']);
    // a is deleted: b, handed the same object in a sync that names only a, gets the address,
    // with its own region (a's was freed, not b's).
    const onlyB = { services: new Map([...both.services].filter(([k]) => k.startsWith('default/b'))) };
    expect(w.apply({ state: onlyB, changed: new Set(['default/a:http']) }).entriesLeftOut).toBe(0);
    expect(dump(m)).toEqual(['10.96.0.2:80/6 external -> [10.244.3.3:8080] ', '203.0.113.10:80/6 external -> [10.244.3.3:8080] EXTERNAL']);
    expect(w.usage().slots).toBe(2); // b's two entries share one region (slots come in pairs); a's freed
  });

  it('the entries of a service with the same table share one region: a NodePort on every node address costs its slots once', () => {
    const m = maps();
    const w = writerFor(m, 'maglev');
    const np = nodePortSvc('np', '10.96.0.40', 30080);
    const pods = (n: number) => podsOf('np', n, 4);
    const first = w.apply({ state: desired({ services: [np], endpointSlices: [pods(3)] }), changed: 'all' });
    // ClusterIP and a NodePort on each of the node's two IPv4 addresses: three entries, one table.
    const offs = () => [...m.svc.entries()].map(([, v]) => decodeSvcVal(v)).map((v) => `${v.slotOff}+${v.slotLen}`);
    expect(offs()).toHaveLength(3);
    expect(new Set(offs()).size).toBe(1);
    expect(first.slotsWritten).toBe(w.usage().slots - 1); // a prime-sized table, in pairs
    // A backend goes: the new table is written once, and the old region goes with its last entry.
    const next = w.apply({ state: desired({ services: [np], endpointSlices: [pods(2)] }), changed: new Set(['default/np:http']) });
    expect(new Set(offs()).size).toBe(1);
    expect(next.slotsWritten).toBeLessThan(first.slotsWritten);
    expect(w.usage().slots).toBe(next.slotsWritten + 1);
    w.apply({ state: desired({ services: [], endpointSlices: [] }), changed: new Set(['default/np:http']) });
    expect(w.usage()).toEqual({ svcIds: 0, backends: 0, slots: 0 });
  });

  it('after an apply that failed in its writes, the full sync that follows counts the map itself: it never overfills it', () => {
    const m = maps();
    const w = writerSized(m, 65536, 4);
    const slices = [slice({ service: 'a', endpoints: [ep('10.244.4.1')] }), slice({ service: 'b', endpoints: [ep('10.244.4.2')] })];
    const realBatch = m.svc.updateBatch.bind(m.svc);
    m.svc.updateBatch = () => { throw new Error('E2BIG'); };
    expect(() => w.apply({ state: desired({ services: [nodePortSvc('a', '10.96.0.41', 30081)], endpointSlices: slices }), changed: 'all' })).toThrow('E2BIG');
    m.svc.updateBatch = realBatch;
    // a's three entries were planned but never written; the retry writes them, and b does not fit.
    const r = w.apply({ state: desired({ services: [nodePortSvc('a', '10.96.0.41', 30081), nodePortSvc('b', '10.96.0.42', 30082)], endpointSlices: slices }), changed: 'all' });
    expect(r.notProgrammed.map((p) => p.service)).toEqual(['default/b:http']);
    expect(m.svc.data.size).toBe(3);
    // And the count it keeps after that sync is right too: b, retried, still does not fit.
    expect(w.apply({ state: desired({ services: [nodePortSvc('a', '10.96.0.41', 30081), nodePortSvc('b', '10.96.0.42', 30082)], endpointSlices: slices }), changed: new Set() }).notProgrammed).toHaveLength(1);
    expect(m.svc.data.size).toBe(3);
  });

  it('a service that would overfill the service map is not programmed (named, retried); the others are', () => {
    const m = maps();
    const w = writerSized(m, 65536, 4);
    const a = nodePortSvc('a', '10.96.0.41', 30081);
    const b = nodePortSvc('b', '10.96.0.42', 30082);
    const slices = [slice({ service: 'a', endpoints: [ep('10.244.4.1')] }), slice({ service: 'b', endpoints: [ep('10.244.4.2')] })];
    const r = w.apply({ state: desired({ services: [a, b], endpointSlices: slices }), changed: 'all' });
    expect(r.notProgrammed).toEqual([{ service: 'default/b:http', error: expect.stringMatching(/service map is full: 3 of 4 entries used, and this service needs 3 more/) }]);
    expect(dump(m).map((row) => row.split(' ')[0])).toEqual(['10.0.0.5:30081/6', '10.96.0.41:80/6', '192.168.1.10:30081/6']);
    // a goes. Its entries leave the map only after that apply's writes, so b is written at the next.
    const onlyB = desired({ services: [b], endpointSlices: slices });
    expect(w.apply({ state: onlyB, changed: new Set(['default/a:http']) }).notProgrammed).toHaveLength(1);
    expect(w.apply({ state: onlyB, changed: new Set() }).notProgrammed).toEqual([]);
    expect(dump(m).map((row) => row.split(' ')[0])).toEqual(['10.0.0.5:30082/6', '10.96.0.42:80/6', '192.168.1.10:30082/6']);
  });

  it('a full sync removes entries it does not own (drift) and rewrites what was tampered with', () => {
    const m = maps();
    const w = writerFor(m);
    const state = desired({ services: [web], endpointSlices: [twoPods] });
    w.apply({ state, changed: 'all' });
    const [k, v] = [...m.svc.entries()][0]!;
    m.svc.data.set(Buffer.alloc(24, 7).toString('hex'), Buffer.alloc(24));
    const broken = Buffer.from(v);
    broken.writeUInt32LE(0, 8); // slot_len 0: the service looks empty
    m.svc.update(k, broken);
    w.apply({ state, changed: 'all' });
    expect(dump(m)).toEqual(['10.96.0.10:80/6 external -> [10.244.1.5:8080L 10.244.2.6:8080] ']);
  });

  it('a restarted writer adopts the maps: same backend ids and svc id; a region that holds what it would write is kept, the others replaced', () => {
    const m = maps();
    const api = svc({ name: 'api', spec: { clusterIP: '10.96.0.20', clusterIPs: ['10.96.0.20'] } });
    const apiPods = slice({ service: 'api', endpoints: [ep('10.244.3.1'), ep('10.244.3.2'), ep('10.244.3.3')] });
    writerFor(m).apply({ state: desired({ services: [web, api], endpointSlices: [twoPods, apiPods] }), changed: 'all' });
    const before = new Map([...m.backend.entries()].map(([k, v]) => [k.toString('hex'), v.toString('hex')]));
    const vals = () => new Map([...m.svc.entries()].map(([k, v]) => [decodeSvcKey(k).addr, decodeSvcVal(v)]));
    const valsBefore = vals();

    const again = writerFor(m);
    expect(again.adopt()).toEqual({ entries: 2, backends: 5 });
    // While it was down, api lost a pod; web is as it was.
    const stats = again.apply({ state: desired({ services: [web, api], endpointSlices: [twoPods, slice({ service: 'api', endpoints: [ep('10.244.3.1'), ep('10.244.3.2')] })] }), changed: 'all' });
    expect(dump(m)).toEqual([
      '10.96.0.10:80/6 external -> [10.244.1.5:8080L 10.244.2.6:8080] ',
      '10.96.0.20:80/6 external -> [10.244.3.1:8080 10.244.3.2:8080] ',
    ]);
    expect(stats.slotsWritten).toBe(2);
    expect(vals().get('10.96.0.10')).toEqual(valsBefore.get('10.96.0.10'));
    expect(vals().get('10.96.0.20')!.svcId).toBe(valsBefore.get('10.96.0.20')!.svcId);
    expect(vals().get('10.96.0.20')!.slotOff).not.toBe(valsBefore.get('10.96.0.20')!.slotOff);
    // The same ids for the same backends; the pod that went is freed.
    const live = (rows: Iterable<[string, string]>) => [...rows].filter(([, v]) => decodeBackendVal(Buffer.from(v, 'hex')) !== null);
    expect(live([...m.backend.entries()].map(([k, v]) => [k.toString('hex'), v.toString('hex')]))).toEqual(
      live(before).filter(([, v]) => decodeBackendVal(Buffer.from(v, 'hex'))!.addr !== '10.244.3.3'));
    // api's adopted region was freed after the flip; web's is still in use.
    expect(again.usage().slots).toBe(4);
  });

  it('a restarted writer: a region the entries of a service share is adopted once, kept while it holds their table, freed with its last entry', () => {
    const m = maps();
    const np = nodePortSvc('np', '10.96.0.40', 30080);
    const pods = (n: number) => podsOf('np', n, 4);
    writerFor(m).apply({ state: desired({ services: [np], endpointSlices: [pods(3)] }), changed: 'all' });
    const again = writerFor(m);
    expect(again.adopt().entries).toBe(3);
    expect(again.apply({ state: desired({ services: [np], endpointSlices: [pods(3)] }), changed: 'all' }).slotsWritten).toBe(0);
    expect(again.apply({ state: desired({ services: [np], endpointSlices: [pods(2)] }), changed: new Set(['default/np:http']) }).slotsWritten).toBe(2);
    // The adopted region went once, with its last entry: only the new table is left.
    expect(again.usage().slots).toBe(2);
  });

  it('a restarted writer: an adopted region whose slots were changed behind its back is rewritten', () => {
    const m = maps();
    const state = desired({ services: [web], endpointSlices: [twoPods] });
    writerFor(m).apply({ state, changed: 'all' });
    const [k, v] = [...m.slots.entries()][0]!;
    const swapped = Buffer.from(v);
    swapped.writeUInt32LE(v.readUInt32LE(4), 0);
    swapped.writeUInt32LE(v.readUInt32LE(0), 4);
    m.slots.update(k, swapped);
    const again = writerFor(m);
    again.adopt();
    expect(again.apply({ state, changed: 'all' }).slotsWritten).toBe(2);
    expect([...m.slots.entries()].some(([, x]) => x.equals(v))).toBe(true);
  });

  it('a restarted writer: a service emptied meanwhile gets no slots (not its old region\'s length over freed ids)', () => {
    const m = maps();
    writerFor(m).apply({ state: desired({ services: [web], endpointSlices: [twoPods] }), changed: 'all' });
    const again = writerFor(m);
    again.adopt();
    again.apply({ state: desired({ services: [web], endpointSlices: [] }), changed: 'all' });
    expect(dump(m)).toEqual(['10.96.0.10:80/6 external -> [] ']);
    expect(again.usage()).toEqual({ svcIds: 1, backends: 0, slots: 0 });
  });

  it('a restarted writer keeps an adopted service id for its service: a service new since then gets another', () => {
    const m = maps();
    writerFor(m).apply({ state: desired({ services: [web], endpointSlices: [twoPods] }), changed: 'all' });
    const webId = decodeSvcVal([...m.svc.entries()][0]![1]).svcId;
    const again = writerFor(m);
    again.adopt();
    // The new service comes first in the state, so it is written first.
    const newer = svc({ name: 'newer', spec: { clusterIP: '10.96.0.20', clusterIPs: ['10.96.0.20'] } });
    again.apply({ state: desired({ services: [newer, web], endpointSlices: [twoPods, slice({ service: 'newer', endpoints: [ep('10.244.3.3')] })] }), changed: 'all' });
    const ids = new Map([...m.svc.entries()].map(([k, v]) => [decodeSvcKey(k).addr, decodeSvcVal(v).svcId]));
    expect(ids.get('10.96.0.10')).toBe(webId);
    expect(ids.get('10.96.0.20')).not.toBe(webId);
  });

  it('a service whose table does not fit keeps what it had, and the others are programmed; it is written once it fits', () => {
    const m = maps();
    // 16 slots: room for the small service and one more table of a few.
    const w = writerSized(m, 16);
    const pods = (n: number) => podsOf('big', n, 5);
    const state = (webPods: unknown, bigPods: number) => desired({ services: [big, web], endpointSlices: [webPods, pods(bigPods)] });
    expect(w.apply({ state: state(twoPods, 3), changed: 'all' }).notProgrammed).toEqual([]);

    // big grows past the pool while web gains a pod, in one apply.
    const threePods = slice({ endpoints: [ep('10.244.1.5', { node: 'node-a' }), ep('10.244.2.6', { node: 'node-b' }), ep('10.244.2.7', { node: 'node-b' })] });
    const r = w.apply({ state: state(threePods, 20), changed: 'all' });
    expect(r.notProgrammed).toEqual([expect.objectContaining({ service: expect.stringContaining('big'), error: expect.stringMatching(/slot pool full/) })]);
    expect(dump(m)).toEqual([
      '10.96.0.10:80/6 external -> [10.244.1.5:8080L 10.244.2.6:8080 10.244.2.7:8080] ',
      '10.96.0.30:80/6 external -> [10.244.5.1:8080 10.244.5.2:8080 10.244.5.3:8080] ',
    ]);
    // Nothing of the failed attempt is held: 3 + 3 slots (padded to 4 each), 6 backends.
    expect(w.usage()).toEqual({ svcIds: 2, backends: 6, slots: 8 });

    // A later apply that does not touch big tries it again; once it fits, it is written.
    expect(w.apply({ state: state(threePods, 20), changed: new Set() }).notProgrammed).toHaveLength(1);
    expect(w.apply({ state: state(threePods, 5), changed: new Set() }).notProgrammed).toEqual([]);
    expect(dump(m)[1]).toBe('10.96.0.30:80/6 external -> [10.244.5.1:8080 10.244.5.2:8080 10.244.5.3:8080 10.244.5.4:8080 10.244.5.5:8080] ');
  });

  it('a restarted writer short of slots for its first full sync: a service it cannot write yet keeps serving from what the last instance left', () => {
    const m = maps();
    const sized = () => writerSized(m, 16);
    sized().apply({ state: desired({ services: [big, web], endpointSlices: [podsOf('big', 6, 5), podsOf('web', 4, 6)] }), changed: 'all' });
    const before = dump(m);
    // Both services' pods were replaced while it was down.
    const state = desired({ services: [big, web], endpointSlices: [podsOf('big', 6, 7), podsOf('web', 4, 8)] });
    const reference = maps();
    writerSized(reference, 16).apply({ state, changed: 'all' });
    const after = dump(reference);

    const again = sized();
    again.adopt();
    // Both old regions are held until the flip, so only one service gets a fresh region now.
    const r = again.apply({ state, changed: 'all' });
    expect(r.notProgrammed).toHaveLength(1);
    expect(dump(m).filter((row) => before.includes(row))).toHaveLength(1);
    expect(dump(m).filter((row) => after.includes(row))).toHaveLength(1);
    // The flip freed the other's old region: the next apply writes the one left.
    expect(again.apply({ state, changed: new Set() }).notProgrammed).toEqual([]);
    expect(dump(m)).toEqual(after);
    expect(again.usage().slots).toBe(10);
  });

  it('a held service removed before it could be written: what the last instance left of it goes', () => {
    const m = maps();
    const sized = () => writerSized(m, 16);
    sized().apply({ state: desired({ services: [big, web], endpointSlices: [podsOf('big', 6, 5), podsOf('web', 4, 6)] }), changed: 'all' });
    const again = sized();
    again.adopt();
    // Both changed while it was down: big takes the free room, web must wait.
    expect(again.apply({ state: desired({ services: [big, web], endpointSlices: [podsOf('big', 6, 7), podsOf('web', 4, 8)] }), changed: 'all' }).notProgrammed).toEqual([
      expect.objectContaining({ service: 'default/web:http' }),
    ]);
    // web goes before it was ever written by this instance.
    again.apply({ state: desired({ services: [big], endpointSlices: [podsOf('big', 6, 7)] }), changed: new Set(['default/web:http']) });
    expect(dump(m)).toEqual(['10.96.0.30:80/6 external -> [10.244.7.1:8080 10.244.7.2:8080 10.244.7.3:8080 10.244.7.4:8080 10.244.7.5:8080 10.244.7.6:8080] ']);
    again.apply({ state: desired({ services: [big], endpointSlices: [podsOf('big', 6, 7)] }), changed: 'all' });
    expect(again.usage()).toEqual({ svcIds: 1, backends: 6, slots: 6 });
  });

  it('a service gone and one new in the same apply: the new one never gets the gone one\'s id before its affinity entries are swept', () => {
    const m = { ...maps(), affinity: new FakeMap('affinity', LAYOUT.ekp_affinity_key.size, LAYOUT.ekp_affinity_val.size) };
    const w = new ServiceWriter(m, { algorithm: 'random', sizes: { svcIds: 1024, backends: 1024, slots: 65536 } });
    const aff = svc({ spec: { sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 60 } } } });
    w.apply({ state: desired({ services: [aff], endpointSlices: [twoPods] }), changed: 'all' });
    const oldId = decodeSvcVal([...m.svc.entries()][0]![1]).svcId;
    const other = svc({ name: 'other', spec: { clusterIP: '10.96.0.40', clusterIPs: ['10.96.0.40'] } });
    w.apply({ state: desired({ services: [other], endpointSlices: [slice({ service: 'other', endpoints: [ep('10.244.7.1')] })] }), changed: new Set(['default/web:http', 'default/other:http']) });
    expect(decodeSvcVal([...m.svc.entries()][0]![1]).svcId).not.toBe(oldId);
  });

  it('a service that cannot be written for another reason (a Maglev size below the smallest table): reported as it is, nothing of the attempt kept', () => {
    const m = maps();
    const w = new ServiceWriter(m, { algorithm: 'maglev', maglevMaxSize: 2, sizes: { svcIds: 1024, backends: 1024, slots: 65536 } });
    const r = w.apply({ state: desired({ services: [web], endpointSlices: [twoPods] }), changed: 'all' });
    expect(r.notProgrammed).toEqual([{ service: 'default/web:http', error: expect.stringMatching(/maglev: maxSize 2 is below/) }]);
    expect(w.usage()).toEqual({ svcIds: 0, backends: 0, slots: 0 });
    expect(m.svc.data.size).toBe(0);
  });

  it('many services: ids and regions stay unique', () => {
    const m = maps();
    const services = Array.from({ length: 200 }, (_, i) => svc({ name: `s${i}`, spec: { clusterIP: `10.96.1.${i}`, clusterIPs: [`10.96.1.${i}`] } }));
    const slices = services.map((_, i) => slice({ service: `s${i}`, endpoints: [ep(`10.244.9.${i}`), ep(`10.244.8.${i}`)] }));
    const w = writerFor(m, 'maglev');
    w.apply({ state: desired({ services, endpointSlices: slices }), changed: 'all' });
    const vals = [...m.svc.entries()].map(([, v]) => decodeSvcVal(v));
    expect(new Set(vals.map((v) => v.svcId)).size).toBe(200);
    const ranges = vals.map((v) => [v.slotOff, v.slotOff + v.slotLen] as const).sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < ranges.length; i++) expect(ranges[i]![0]).toBeGreaterThanOrEqual(ranges[i - 1]![1]);
    // Tables (251 slots) start at even slots, so no two share a two-slot map entry.
    expect(ranges.every(([off]) => off % 2 === 0)).toBe(true);
  });
});
