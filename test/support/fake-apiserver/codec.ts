// How responses are encoded, chosen per request from its Accept header: JSON, or the
// Kubernetes protobuf wire (application/vnd.kubernetes.protobuf: "k8s\0" + runtime.Unknown
// envelopes, watch streams as length-prefixed WatchEvent frames), encoded with the same
// schemas the proxy decodes with (proto/, via src/sources/kubernetes/proto/codec.ts).

import { encodeObject, encodeWatchFrame, PROTOBUF_MEDIA_TYPE, PROTOBUF_STREAM_MEDIA_TYPE } from '../../../src/sources/kubernetes/proto/codec.js';

export interface WatchEventFrame {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: unknown;
}

export interface Codec {
  /** Short name, for test parameters and logs. */
  name: 'json' | 'protobuf';
  /** Content-Type of lists and Status bodies. */
  contentType: string;
  /** Content-Type of a watch stream. */
  streamContentType: string;
  encode(body: unknown): Buffer;
  /** One watch event, framed for the stream. */
  encodeWatchEvent(ev: WatchEventFrame): Buffer;
}

export const jsonCodec: Codec = {
  name: 'json',
  contentType: 'application/json',
  streamContentType: 'application/json',
  encode: (body) => Buffer.from(JSON.stringify(body)),
  // The API server's JSON stream is one object per line.
  encodeWatchEvent: (ev) => Buffer.from(JSON.stringify(ev) + '\n'),
};

export const protobufCodec: Codec = {
  name: 'protobuf',
  contentType: PROTOBUF_MEDIA_TYPE,
  streamContentType: PROTOBUF_STREAM_MEDIA_TYPE,
  // Bodies carry apiVersion and kind (Lists, Status); the envelope takes them from there.
  encode: (body) => encodeObject(body as Record<string, unknown>),
  encodeWatchEvent: (ev) => encodeWatchFrame(ev),
};

const CODECS: ReadonlyArray<{ mediaType: string; codec: Codec }> = [
  { mediaType: 'application/json', codec: jsonCodec },
  { mediaType: PROTOBUF_MEDIA_TYPE, codec: protobufCodec },
];

/** The codec for an Accept header (first acceptable media type wins; parameters such as stream=watch ignored), or undefined for 406. */
export function negotiate(accept: string | undefined): Codec | undefined {
  if (!accept) return jsonCodec;
  for (const part of accept.split(',')) {
    const mediaType = part.split(';')[0]!.trim().toLowerCase();
    if (mediaType === '*/*' || mediaType === 'application/*') return jsonCodec;
    const found = CODECS.find((c) => c.mediaType === mediaType);
    if (found) return found.codec;
  }
  return undefined;
}
