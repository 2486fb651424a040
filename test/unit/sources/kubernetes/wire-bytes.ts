// Hand-built protobuf bytes for the wire tests: well-formed pieces to assemble, and the
// malformed inputs a decoder must refuse cleanly.

import protobuf from 'protobufjs';
export { encodeObject, encodeWatchFrame } from '../../../../src/sources/kubernetes/proto/codec.js';

export const MAGIC_BYTES = Buffer.from([0x6b, 0x38, 0x73, 0x00]);

const LEN = 2;
const VARINT = 0;

export function tag(field: number, wireType: number): number {
  return (field << 3) | wireType;
}

/** A message from raw parts: [field, wireType, value] with value a string, number or nested bytes. */
export function message(...parts: Array<[number, number, string | number | Uint8Array]>): Uint8Array {
  const w = protobuf.Writer.create();
  for (const [field, wt, value] of parts) {
    w.uint32(tag(field, wt));
    if (wt === VARINT) w.uint64(value as number);
    else if (typeof value === 'string') w.string(value);
    else w.bytes(value as Uint8Array);
  }
  return w.finish();
}

export function envelope(apiVersion: string, kind: string, raw: Uint8Array, extra: Array<[number, number, string | number | Uint8Array]> = []): Buffer {
  const typeMeta = message([1, LEN, apiVersion], [2, LEN, kind]);
  return Buffer.concat([MAGIC_BYTES, message([1, LEN, typeMeta], [2, LEN, raw], ...extra)]);
}

/** A watch frame around `objectBytes` (normally an envelope). */
export function frame(type: string, objectBytes: Uint8Array): Buffer {
  return lengthPrefixed(message([1, LEN, type], [2, LEN, message([1, LEN, objectBytes])]));
}

export function lengthPrefixed(body: Uint8Array): Buffer {
  const head = Buffer.alloc(4);
  head.writeUInt32BE(body.length, 0);
  return Buffer.concat([head, body]);
}

/** A Service whose metadata has name and resourceVersion, plus spec parts. */
export function serviceBytes(name: string, rv: string, specParts: Array<[number, number, string | number | Uint8Array]> = []): Uint8Array {
  return message([1, LEN, message([1, LEN, name], [3, LEN, 'default'], [6, LEN, rv])], [2, LEN, message(...specParts)]);
}

export const WIRE = { LEN, VARINT };
