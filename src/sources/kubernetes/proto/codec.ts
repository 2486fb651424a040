// The Kubernetes protobuf wire format, decoded into (and encoded from) the same plain
// JSON-shaped objects the JSON wire gives, so nothing downstream knows which was used.
//
//   object or list:  "k8s\0" + runtime.Unknown{typeMeta, raw = the message, contentEncoding, contentType}
//   watch stream:    frames of [4-byte big-endian length][meta.v1.WatchEvent{type, object.raw}],
//                    where object.raw is itself an enveloped object as above.
//
// JSON shape: field names as the API's JSON (upstream proto names are the JSON names, loaded
// with keepCase), Time as RFC 3339, IntOrString as a number or a string, int64 as a number,
// unset fields left out. Go writes every non-pointer scalar even when it is zero, where its
// JSON (omitempty) leaves it out; OMIT_EMPTY lists those fields so that a zero there decodes
// to "absent", exactly as the JSON path would see it.
//
// Decoding is one pass over the bytes (decoder.ts), straight into that shape. Unknown fields
// are skipped; a known field with the wrong wire type is an error, as it is for Go's generated
// code. Encoding (for the fake API server and the bench) goes through protobufjs.

import protobuf from 'protobufjs';
import { ProtocolError, type WatchEvent, type WatchEventType } from '../types.js';
import { compilePlan, decodeInto, Malformed, newObject, type TypePlan } from './decoder.js';
import { OUT_OF_LINE } from './out-of-line.js';
import { CORE, DISCOVERY, INTSTR, META, NETWORKING, RUNTIME, lookupType } from './schema.js';

export const PROTOBUF_MEDIA_TYPE = 'application/vnd.kubernetes.protobuf';
export const PROTOBUF_STREAM_MEDIA_TYPE = 'application/vnd.kubernetes.protobuf;stream=watch';
/** "k8s\0", before every enveloped object. */
export const MAGIC: Readonly<Uint8Array> = Uint8Array.of(0x6b, 0x38, 0x73, 0x00);
/** Largest watch frame accepted; a larger length prefix is a broken (or hostile) stream, not a big object. */
export const DEFAULT_MAX_FRAME_BYTES = 64 * 1024 * 1024;

/** apiVersion/kind → message type, for everything we read. */
const KINDS: Readonly<Record<string, string>> = {
  'v1/Service': `${CORE}.Service`,
  'v1/ServiceList': `${CORE}.ServiceList`,
  'v1/Node': `${CORE}.Node`,
  'v1/NodeList': `${CORE}.NodeList`,
  'discovery.k8s.io/v1/EndpointSlice': `${DISCOVERY}.EndpointSlice`,
  'discovery.k8s.io/v1/EndpointSliceList': `${DISCOVERY}.EndpointSliceList`,
  'networking.k8s.io/v1/ServiceCIDR': `${NETWORKING}.ServiceCIDR`,
  'networking.k8s.io/v1/ServiceCIDRList': `${NETWORKING}.ServiceCIDRList`,
  'v1/Status': `${META}.Status`,
};

/** Non-pointer scalars with `json:",omitempty"` in the Go types: Go's protobuf writes their zero, its JSON does not. */
const OMIT_EMPTY: Readonly<Record<string, readonly string[]>> = {
  [`${META}.ListMeta`]: ['selfLink', 'resourceVersion', 'continue'],
  [`${META}.ObjectMeta`]: ['name', 'generateName', 'namespace', 'selfLink', 'uid', 'resourceVersion', 'generation'],
  [`${META}.Status`]: ['status', 'message', 'reason', 'code'],
  [`${META}.StatusDetails`]: ['name', 'group', 'kind', 'uid', 'retryAfterSeconds'],
  [`${META}.StatusCause`]: ['reason', 'message', 'field'],
  [`${CORE}.ServiceSpec`]: [
    'clusterIP',
    'type',
    'sessionAffinity',
    'loadBalancerIP',
    'externalName',
    'externalTrafficPolicy',
    'healthCheckNodePort',
    'publishNotReadyAddresses',
  ],
  [`${CORE}.ServicePort`]: ['name', 'protocol', 'nodePort'],
  [`${CORE}.LoadBalancerIngress`]: ['ip', 'hostname'],
  [`${CORE}.NodeSpec`]: ['podCIDR', 'providerID', 'unschedulable'],
};

const WATCH_EVENT_TYPES: ReadonlySet<string> = new Set<WatchEventType>(['ADDED', 'MODIFIED', 'DELETED', 'BOOKMARK', 'ERROR']);

/** Field tables by message name, compiled on first use. */
const planCache = new Map<string, TypePlan>();

function planNamed(name: string): TypePlan {
  let plan = planCache.get(name);
  if (!plan) {
    plan = compilePlan(lookupType(name), OMIT_EMPTY, 'adaptive');
    planCache.set(name, plan);
  }
  return plan;
}

let unknownPlan: TypePlan | undefined;
let watchEventPlan: TypePlan | undefined;
const kindPlans = new Map<string, TypePlan>();

/** Loads the schemas and compiles every field table the decoder uses (otherwise done on first use). */
export function warmUp(): void {
  for (const name of [...Object.values(KINDS), `${RUNTIME}.Unknown`, `${META}.WatchEvent`]) planNamed(name);
}

/** Decodes `buf` as `plan`'s message into `out`, naming `what` in any error. */
function decodeMessage(plan: TypePlan, buf: Uint8Array, what: string, out: Record<string, unknown>): Record<string, unknown> {
  if (OUT_OF_LINE) [, , , , , , , , , , , , , , , ,] = OUT_OF_LINE; // never runs: see out-of-line.ts
  try {
    return decodeInto(plan, buf, out);
  } catch (err) {
    if (err instanceof Malformed) throw new ProtocolError(`${what}: cannot decode ${plan.name}: ${err.message}`);
    throw new ProtocolError(`${what}: ${(err as Error).message}`);
  }
}

function hex(b: Uint8Array): string {
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(' ') || '(nothing)';
}

export interface Envelope {
  apiVersion: string;
  kind: string;
  /** The object's own message (without TypeMeta). */
  raw: Uint8Array;
}

/** "k8s\0" + runtime.Unknown → its TypeMeta and payload. */
export function decodeEnvelope(buf: Uint8Array, what: string): Envelope {
  if (OUT_OF_LINE) [, , , , , , , , , , , , , , , ,] = OUT_OF_LINE; // never runs: see out-of-line.ts
  if (buf.length < 4 || buf[0] !== MAGIC[0] || buf[1] !== MAGIC[1] || buf[2] !== MAGIC[2] || buf[3] !== MAGIC[3]) {
    throw new ProtocolError(`${what}: not a Kubernetes protobuf object: expected magic 6b 38 73 00 ("k8s\\0"), got ${hex(buf.subarray(0, 4))}`);
  }
  let env: { typeMeta?: { apiVersion?: string; kind?: string }; raw?: Uint8Array; contentEncoding?: string; contentType?: string };
  try {
    env = decodeInto((unknownPlan ??= planNamed(`${RUNTIME}.Unknown`)), buf.subarray(4));
  } catch (err) {
    throw new ProtocolError(`${what}: bad envelope (runtime.Unknown): ${(err as Error).message}`);
  }
  // The API server always writes raw (an object's message is never absent, if anything empty):
  // without it, these are the first bytes of an envelope cut short, not an empty object.
  if (env.raw === undefined) throw new ProtocolError(`${what}: bad envelope (runtime.Unknown): no raw (payload) field`);
  if (env.contentEncoding) throw new ProtocolError(`${what}: unsupported contentEncoding ${JSON.stringify(env.contentEncoding)}`);
  if (env.contentType && env.contentType !== PROTOBUF_MEDIA_TYPE) {
    throw new ProtocolError(`${what}: unsupported contentType ${JSON.stringify(env.contentType)} inside the envelope`);
  }
  return { apiVersion: env.typeMeta?.apiVersion ?? '', kind: env.typeMeta?.kind ?? '', raw: env.raw };
}

function planForKind(apiVersion: string, kind: string, what: string): TypePlan {
  const key = `${apiVersion}/${kind}`;
  let plan = kindPlans.get(key);
  if (plan) return plan;
  const name = KINDS[key];
  if (!name || !Object.hasOwn(KINDS, key)) throw new ProtocolError(`${what}: unknown kind ${JSON.stringify(kind)} (apiVersion ${JSON.stringify(apiVersion)})`);
  plan = planNamed(name);
  kindPlans.set(key, plan);
  return plan;
}

/** An enveloped object (or list) → its JSON shape, with apiVersion and kind from the envelope. */
export function decodeObject(buf: Uint8Array, what = 'object'): Record<string, unknown> {
  const { apiVersion, kind, raw } = decodeEnvelope(buf, what);
  const plan = planForKind(apiVersion, kind, what);
  const out = newObject(plan);
  out.apiVersion = apiVersion;
  out.kind = kind;
  return decodeMessage(plan, raw, `${what} (${kind})`, out);
}

export interface DecodedList {
  resourceVersion: string;
  continue: string;
  /** Without TypeMeta, as on the wire. */
  items: unknown[];
}

/** An enveloped *List. */
export function decodeList(buf: Uint8Array, what = 'list'): DecodedList {
  const list = decodeObject(buf, what) as { kind: string; metadata?: { resourceVersion?: string; continue?: string }; items?: unknown[] };
  if (!list.kind.endsWith('List')) throw new ProtocolError(`${what}: expected a list, got ${list.kind}`);
  return { resourceVersion: list.metadata?.resourceVersion ?? '', continue: list.metadata?.continue ?? '', items: list.items ?? [] };
}

/** One frame's payload (without its length prefix) → a watch event whose object is fully decoded. */
export function decodeWatchFrame(frame: Uint8Array): WatchEvent {
  const plan = (watchEventPlan ??= planNamed(`${META}.WatchEvent`));
  let ev: { type?: string; object?: { raw?: Uint8Array } };
  try {
    ev = decodeInto(plan, frame);
  } catch (err) {
    throw new ProtocolError(`watch event: cannot decode ${plan.name}: ${(err as Error).message}`);
  }
  if (typeof ev.type !== 'string' || !WATCH_EVENT_TYPES.has(ev.type)) {
    throw new ProtocolError(`not a watch event: type ${JSON.stringify(ev.type ?? null)}`);
  }
  if (!ev.object?.raw || ev.object.raw.length === 0) throw new ProtocolError(`watch event ${ev.type} has no object`);
  return { type: ev.type as WatchEventType, object: decodeObject(ev.object.raw, `watch event ${ev.type}`) };
}

/** Splits a watch stream into frames: 4-byte big-endian length, then that many bytes. */
export class FrameReader {
  private chunks: Buffer[] = [];
  private size = 0;
  private ended = false;

  constructor(private readonly maxFrameBytes = DEFAULT_MAX_FRAME_BYTES) {}

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.size += chunk.length;
  }

  /** No more bytes will come: what is left must be whole frames. */
  end(): void {
    this.ended = true;
  }

  /** The next complete frame's payload, or undefined until more bytes arrive. */
  next(): Buffer | undefined {
    // Both fields are read on every call: read only on the way out of a chunk (rare), they had
    // no type feedback when V8 optimised this, and reading them there threw that code away.
    const size = this.size;
    const ended = this.ended;
    if (size < 4) {
      if (ended && size > 0) throw new ProtocolError(`watch stream ended inside a frame's length prefix (${size} of 4 bytes)`);
      return undefined;
    }
    const length = this.coalesce(4).readUInt32BE(0);
    if (length > this.maxFrameBytes) {
      throw new ProtocolError(`watch frame length ${length} exceeds the limit of ${this.maxFrameBytes} bytes`);
    }
    if (size < 4 + length) {
      if (ended) throw new ProtocolError(`watch stream ended inside a frame: ${size - 4} of ${length} bytes`);
      return undefined;
    }
    return this.take(4 + length).subarray(4);
  }

  /** Buffered bytes, for tests and limits. */
  get buffered(): number {
    return this.size;
  }

  /** Makes the first chunk at least `n` bytes long and returns it. */
  private coalesce(n: number): Buffer {
    const first = this.chunks[0]!;
    if (first.length >= n) return first;
    let total = 0;
    let i = 0;
    while (total < n) total += this.chunks[i++]!.length;
    const merged = Buffer.concat(this.chunks.splice(0, i), total);
    this.chunks.unshift(merged);
    return merged;
  }

  private take(n: number): Buffer {
    const first = this.coalesce(n);
    const out = first.subarray(0, n);
    if (first.length === n) this.chunks.shift();
    else this.chunks[0] = first.subarray(n);
    this.size -= n;
    return out;
  }
}

/** Message types by full name, to encode with: ours by default, the wire bench's upstream-complete ones for its "as the API server sends it" data. */
export type TypeLookup = (name: string) => protobuf.Type;

/** The API's JSON shape → a plain object protobufjs can encode (for the fake API server and the bench). */
function fromJson(type: protobuf.Type, o: Record<string, any>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const typeName = type.fullName.replace(/^\./, '');
  for (const field of type.fieldsArray) {
    const v = o[field.name];
    if (v === undefined || v === null) continue;
    field.resolve();
    const msg = field.resolvedType instanceof protobuf.Type ? field.resolvedType : undefined;
    const msgName = msg?.fullName.replace(/^\./, '');
    if (msgName === `${META}.Time`) {
      const ms = Date.parse(String(v));
      if (Number.isNaN(ms)) throw new Error(`${typeName}.${field.name}: not a time: ${String(v)}`);
      out[field.name] = { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 };
    } else if (msgName === `${INTSTR}.IntOrString`) {
      out[field.name] = typeof v === 'number' ? { type: 0, intVal: v } : { type: 1, strVal: String(v) };
    } else if (msgName === `${META}.FieldsV1`) {
      // metav1.FieldsV1 is JSON in both encodings: an object in JSON, its text in Raw (field 1) in protobuf.
      out[field.name] = { Raw: Buffer.from(JSON.stringify(v)) };
    } else if (field.map) {
      if (msg) {
        const m: Record<string, unknown> = {};
        for (const [k, e] of Object.entries(v as Record<string, any>)) m[k] = fromJson(msg, e);
        out[field.name] = m;
      } else {
        out[field.name] = v;
      }
    } else if (field.repeated) {
      out[field.name] = msg ? (v as Record<string, any>[]).map((e) => fromJson(msg, e)) : v;
    } else if (msg) {
      out[field.name] = fromJson(msg, v);
    } else if (field.type === 'bytes') {
      out[field.name] = Buffer.from(String(v), 'base64');
    } else {
      out[field.name] = v;
    }
  }
  return out;
}

/** A JSON-shaped object with apiVersion and kind → "k8s\0" + runtime.Unknown. */
export function encodeObject(obj: Record<string, unknown>, types: TypeLookup = lookupType): Buffer {
  const apiVersion = String(obj.apiVersion ?? '');
  const kind = String(obj.kind ?? '');
  const type = types(planForKind(apiVersion, kind, 'encode').name);
  const raw = type.encode(fromJson(type, obj)).finish();
  const env = types(`${RUNTIME}.Unknown`).encode({ typeMeta: { apiVersion, kind }, raw, contentEncoding: '', contentType: '' }).finish();
  const out = Buffer.allocUnsafe(4 + env.length);
  out.set(MAGIC, 0);
  out.set(env, 4);
  return out;
}

/** One watch event as a length-prefixed frame. */
export function encodeWatchFrame(ev: { type: string; object: unknown }, types: TypeLookup = lookupType): Buffer {
  const raw = encodeObject(ev.object as Record<string, unknown>, types);
  const body = types(`${META}.WatchEvent`).encode({ type: ev.type, object: { raw } }).finish();
  const out = Buffer.allocUnsafe(4 + body.length);
  out.writeUInt32BE(body.length, 0);
  out.set(body, 4);
  return out;
}

/** Whether a Content-Type is the Kubernetes protobuf (object or stream) media type. */
export function isProtobufContentType(contentType: string | undefined): boolean {
  return (contentType ?? '').split(';')[0]!.trim().toLowerCase() === PROTOBUF_MEDIA_TYPE;
}
