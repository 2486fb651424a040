// The JSON wire: how a list and a watch stream look as JSON. The HTTP part (auth, TLS,
// paging, streaming, refusals, rate limit) is shared with the protobuf wire in http-transport.ts.

import { StringDecoder } from 'node:string_decoder';
import type { KubeConfig } from '@kubernetes/client-node';
import { createHttpTransport, type HttpTransportOptions, type ListBody, type WatchDecoder, type Wire } from './http-transport.js';
import { ProtocolError, type Transport, type WatchEvent, type WatchEventType } from './types.js';

export type JsonTransportOptions = HttpTransportOptions;

export const JSON_MEDIA_TYPE = 'application/json';

const WATCH_EVENT_TYPES: ReadonlySet<string> = new Set<WatchEventType>(['ADDED', 'MODIFIED', 'DELETED', 'BOOKMARK', 'ERROR']);

/** A List response body. */
export function decodeJsonList(body: Buffer | string): ListBody {
  let parsed: unknown;
  try {
    parsed = JSON.parse(typeof body === 'string' ? body : body.toString('utf8'));
  } catch {
    throw new ProtocolError('response is not JSON');
  }
  const list = parsed as { metadata?: { resourceVersion?: unknown; continue?: unknown }; items?: unknown };
  if (typeof list !== 'object' || list === null || !Array.isArray(list.items)) {
    throw new ProtocolError('response has no items');
  }
  const rv = list.metadata?.resourceVersion;
  const cont = list.metadata?.continue;
  return { resourceVersion: typeof rv === 'string' ? rv : '', continue: typeof cont === 'string' ? cont : '', items: list.items };
}

/** One line of a JSON watch stream. */
export function decodeJsonWatchEvent(line: string): WatchEvent {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    throw new ProtocolError(`watch event is not JSON: ${line.slice(0, 120)}`);
  }
  const ev = parsed as { type?: unknown; object?: unknown };
  if (typeof ev !== 'object' || ev === null || typeof ev.type !== 'string' || !WATCH_EVENT_TYPES.has(ev.type)) {
    throw new ProtocolError(`not a watch event: ${line.slice(0, 120)}`);
  }
  if (typeof ev.object !== 'object' || ev.object === null) {
    throw new ProtocolError(`watch event ${ev.type} has no object`);
  }
  return { type: ev.type as WatchEventType, object: ev.object };
}

/** The API server's JSON watch stream: one event per line; the last line may lack its newline. */
export class JsonLineDecoder implements WatchDecoder {
  private text = '';
  private pos = 0;
  private ended = false;
  private readonly utf8 = new StringDecoder('utf8');

  push(chunk: Buffer): void {
    if (this.pos > 0) {
      this.text = this.text.slice(this.pos);
      this.pos = 0;
    }
    this.text += this.utf8.write(chunk);
  }

  end(): void {
    this.text += this.utf8.end();
    this.ended = true;
  }

  next(): WatchEvent | undefined {
    for (;;) {
      const nl = this.text.indexOf('\n', this.pos);
      let line: string;
      if (nl >= 0) {
        line = this.text.slice(this.pos, nl);
        this.pos = nl + 1;
      } else if (this.ended && this.pos < this.text.length) {
        line = this.text.slice(this.pos);
        this.pos = this.text.length;
      } else {
        return undefined;
      }
      if (line.trim() !== '') return decodeJsonWatchEvent(line);
    }
  }
}

/** reason and message of a JSON Status body. */
export function decodeJsonStatus(body: Buffer): { reason?: string; message?: string } | undefined {
  try {
    const s = JSON.parse(body.toString('utf8')) as { reason?: unknown; message?: unknown };
    if (typeof s !== 'object' || s === null) return undefined;
    return {
      ...(typeof s.reason === 'string' ? { reason: s.reason } : {}),
      ...(typeof s.message === 'string' ? { message: s.message } : {}),
    };
  } catch {
    // Not a Status body (a proxy's HTML page, say).
    return undefined;
  }
}

export const jsonWire: Wire = {
  listAccept: JSON_MEDIA_TYPE,
  watchAccept: JSON_MEDIA_TYPE,
  decodeList: (body) => decodeJsonList(body),
  watchDecoder: () => new JsonLineDecoder(),
  decodeStatus: (body) => decodeJsonStatus(body),
};

export function createJsonTransport(kc: KubeConfig, options: JsonTransportOptions = {}): Transport {
  return createHttpTransport(kc, jsonWire, options);
}
