// The protobuf wire (Accept: application/vnd.kubernetes.protobuf), as kube-proxy speaks it.
// A response the server sends as JSON anyway is decoded as JSON, as client-go does; the
// decoder is picked per response from its Content-Type.

import type { KubeConfig } from '@kubernetes/client-node';
import { createHttpTransport, type HttpTransportOptions, type Wire } from './http-transport.js';
import { decodeJsonList, decodeJsonStatus, JsonLineDecoder, JSON_MEDIA_TYPE } from './json-transport.js';
import {
  decodeList,
  decodeObject,
  decodeWatchFrame,
  DEFAULT_MAX_FRAME_BYTES,
  FrameReader,
  isProtobufContentType,
  PROTOBUF_MEDIA_TYPE,
  PROTOBUF_STREAM_MEDIA_TYPE,
} from './proto/codec.js';
import { ProtocolError, type Transport, type WatchEvent } from './types.js';

export interface ProtobufTransportOptions extends HttpTransportOptions {
  /** Largest watch frame accepted, bytes (default 64 MiB); a larger length prefix ends the stream with a ProtocolError. */
  maxFrameBytes?: number;
}

function isJson(contentType: string | undefined): boolean {
  return (contentType ?? '').split(';')[0]!.trim().toLowerCase() === JSON_MEDIA_TYPE;
}

function unexpected(contentType: string | undefined): ProtocolError {
  return new ProtocolError(`unexpected Content-Type ${JSON.stringify(contentType ?? '')}`);
}

export function protobufWire(maxFrameBytes = DEFAULT_MAX_FRAME_BYTES): Wire {
  return {
    listAccept: `${PROTOBUF_MEDIA_TYPE}, ${JSON_MEDIA_TYPE}`,
    watchAccept: PROTOBUF_STREAM_MEDIA_TYPE,
    decodeList(body, contentType) {
      if (isProtobufContentType(contentType)) return decodeList(body, 'response');
      if (isJson(contentType)) return decodeJsonList(body);
      throw unexpected(contentType);
    },
    watchDecoder(contentType) {
      if (isJson(contentType)) return new JsonLineDecoder();
      if (!isProtobufContentType(contentType)) throw unexpected(contentType);
      const frames = new FrameReader(maxFrameBytes);
      return {
        push: (chunk) => frames.push(chunk),
        end: () => frames.end(),
        next(): WatchEvent | undefined {
          const frame = frames.next();
          return frame === undefined ? undefined : decodeWatchFrame(frame);
        },
      };
    },
    decodeStatus(body, contentType) {
      if (!isProtobufContentType(contentType)) return decodeJsonStatus(body);
      try {
        const s = decodeObject(body, 'status');
        return {
          ...(typeof s.reason === 'string' ? { reason: s.reason } : {}),
          ...(typeof s.message === 'string' ? { message: s.message } : {}),
        };
      } catch {
        return undefined;
      }
    },
  };
}

export function createProtobufTransport(kc: KubeConfig, options: ProtobufTransportOptions = {}): Transport {
  return createHttpTransport(kc, protobufWire(options.maxFrameBytes), options);
}
