// The wire bench's two dataset shapes: the schema-only one carries the same information in both
// encodings; the API server's one carries more in both, and what our schemas leave out
// (managedFields, finalizers, targetRef) reaches the decoder as unknown fields and is skipped.
import { describe, expect, it } from 'vitest';
import { buildDataset } from '../../../src/bench/wire/dataset.js';
import { upstreamTypes } from '../../../src/bench/wire/upstream-schema.js';
import { decodeEnvelope, decodeList, decodeWatchFrame, encodeObject, encodeWatchFrame } from '../../../src/sources/kubernetes/proto/codec.js';
import { CORE, DISCOVERY } from '../../../src/sources/kubernetes/proto/schema.js';

type Obj = Record<string, any>;

/** A JSON object without the fields our schemas leave out. */
function unread(o: Obj): Obj {
  const c = structuredClone(o);
  delete c.metadata.managedFields;
  for (const e of c.endpoints ?? []) delete e.targetRef;
  return c;
}

const plain = (o: unknown): unknown => JSON.parse(JSON.stringify(o));

describe('wire bench dataset', () => {
  it('schema shape: protobuf decodes to exactly the JSON objects', () => {
    const d = buildDataset(20, 200, 100, 20, 'schema');
    expect(plain(decodeList(encodeObject(d.serviceList)).items)).toEqual(d.serviceList.items);
    expect(plain(decodeList(encodeObject(d.sliceList)).items)).toEqual(d.sliceList.items);
    for (const ev of d.events) expect(plain(decodeWatchFrame(encodeWatchFrame(ev).subarray(4)).object)).toEqual(ev.object);
  });

  it('apiserver shape: managedFields, annotations and targetRef on the wire in both encodings; the decoder skips what it does not read', () => {
    const d = buildDataset(20, 200, 100, 20, 'apiserver');
    const types = upstreamTypes();
    const svc = d.serviceList.items as Obj[];
    const slices = d.sliceList.items as Obj[];
    expect(svc[0]!.metadata.managedFields[0].manager).toBe('kubectl-client-side-apply');
    expect(svc[0]!.metadata.annotations['kubectl.kubernetes.io/last-applied-configuration']).toContain('"kind":"Service"');
    expect(slices[0]!.endpoints[0].targetRef.kind).toBe('Pod');

    expect(plain(decodeList(encodeObject(d.serviceList, types)).items)).toEqual(svc.map(unread));
    expect(plain(decodeList(encodeObject(d.sliceList, types)).items)).toEqual(slices.map(unread));
    for (const ev of d.events) expect(plain(decodeWatchFrame(encodeWatchFrame(ev, types).subarray(4)).object)).toEqual(unread(ev.object));

    // The upstream-complete types read the skipped fields back: they really are in the bytes.
    const raw = decodeEnvelope(encodeObject({ apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', ...slices[0] }, types), 'slice').raw;
    const full = types(`${DISCOVERY}.EndpointSlice`).toObject(types(`${DISCOVERY}.EndpointSlice`).decode(raw)) as Obj;
    expect(full.endpoints[0].targetRef).toEqual(slices[0]!.endpoints[0].targetRef);
    expect(JSON.parse(Buffer.from(full.metadata.managedFields[0].fieldsV1.Raw).toString())).toEqual(slices[0]!.metadata.managedFields[0].fieldsV1);
    expect(types(`${CORE}.ObjectReference`).fieldsArray.map((f) => f.id)).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });
});
