// How responses are encoded, chosen per request from its Accept header. JSON only for now;
// a protobuf codec (application/vnd.kubernetes.protobuf, length-prefixed watch frames)
// slots in beside it without touching the routing or the store.

export interface WatchEventFrame {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: unknown;
}

export interface Codec {
  /** Content-Type of lists and Status bodies. */
  contentType: string;
  /** Content-Type of a watch stream. */
  streamContentType: string;
  encode(body: unknown): Buffer;
  /** One watch event, framed for the stream. */
  encodeWatchEvent(ev: WatchEventFrame): Buffer;
}

export const jsonCodec: Codec = {
  contentType: 'application/json',
  streamContentType: 'application/json',
  encode: (body) => Buffer.from(JSON.stringify(body)),
  // The API server's JSON stream is one object per line.
  encodeWatchEvent: (ev) => Buffer.from(JSON.stringify(ev) + '\n'),
};

const CODECS: ReadonlyArray<{ mediaType: string; codec: Codec }> = [{ mediaType: 'application/json', codec: jsonCodec }];

/** The codec for an Accept header (first acceptable media type wins), or undefined for 406. */
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
