// The fields an API server sends that our schemas leave out (proto/README.md: protobuf skips
// unknown fields, so the decoder never needs them), added back to a separate copy of the
// schemas so that the wire bench can encode objects "as the API server sends them". Numbers and
// types as upstream's generated.proto (k8s.io/apimachinery/pkg/apis/meta/v1, k8s.io/api/core/v1,
// k8s.io/api/discovery/v1). The decoder keeps its own schemas: these bytes reach it as unknown
// fields, as a real API server's do.

import protobuf from 'protobufjs';
import type { TypeLookup } from '../../sources/kubernetes/proto/codec.js';
import { CORE, DISCOVERY, META, loadK8sRoot } from '../../sources/kubernetes/proto/schema.js';

let lookup: TypeLookup | undefined;

function message(name: string, fields: ReadonlyArray<readonly [string, number, string, ('repeated' | undefined)?]>): protobuf.Type {
  const t = new protobuf.Type(name);
  for (const [field, id, type, rule] of fields) t.add(new protobuf.Field(field, id, type, rule));
  return t;
}

/** Types by full name, with managedFields, finalizers and Endpoint.targetRef. */
export function upstreamTypes(): TypeLookup {
  if (lookup) return lookup;
  const root = loadK8sRoot();
  const meta = root.lookup(META) as protobuf.Namespace;
  meta.add(message('FieldsV1', [['Raw', 1, 'bytes']]));
  meta.add(
    message('ManagedFieldsEntry', [
      ['manager', 1, 'string'],
      ['operation', 2, 'string'],
      ['apiVersion', 3, 'string'],
      ['time', 4, 'Time'],
      ['fieldsType', 6, 'string'],
      ['fieldsV1', 7, 'FieldsV1'],
      ['subresource', 8, 'string'],
    ]),
  );
  const objectMeta = root.lookupType(`${META}.ObjectMeta`);
  objectMeta.add(new protobuf.Field('finalizers', 14, 'string', 'repeated'));
  objectMeta.add(new protobuf.Field('managedFields', 17, 'ManagedFieldsEntry', 'repeated'));
  (root.lookup(CORE) as protobuf.Namespace).add(
    message('ObjectReference', [
      ['kind', 1, 'string'],
      ['namespace', 2, 'string'],
      ['name', 3, 'string'],
      ['uid', 4, 'string'],
      ['apiVersion', 5, 'string'],
      ['resourceVersion', 6, 'string'],
      ['fieldPath', 7, 'string'],
    ]),
  );
  root.lookupType(`${DISCOVERY}.Endpoint`).add(new protobuf.Field('targetRef', 4, `${CORE}.ObjectReference`));
  root.resolveAll();
  lookup = (name) => root.lookupType(name);
  return lookup;
}
