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
// Unknown fields are skipped (protobufjs does). A known field with the wrong wire type is an
// error, as it is for Go's generated code: protobufjs would skip it silently, so readers keep
// unknowns and we check their field numbers.

import protobuf from 'protobufjs';
import { ProtocolError, type WatchEvent, type WatchEventType } from '../types.js';
import { CORE, DISCOVERY, INTSTR, META, RUNTIME, lookupType } from './schema.js';

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

/** Go's zero time.Time (0001-01-01T00:00:00Z) in Unix seconds: what a non-pointer, unset metav1.Time is written as. */
const GO_ZERO_TIME_SECONDS = -62135596800;

const WATCH_EVENT_TYPES: ReadonlySet<string> = new Set<WatchEventType>(['ADDED', 'MODIFIED', 'DELETED', 'BOOKMARK', 'ERROR']);

const WIRE_TYPE_NAMES = ['varint', '64-bit', 'length-delimited', 'start-group', 'end-group', '32-bit', 'invalid (6)', 'invalid (7)'];

type Kind = 'scalar' | 'long' | 'bytes' | 'message' | 'time' | 'intstr' | 'map' | 'repeated-scalar' | 'repeated-message';

interface FieldPlan {
  name: string;
  id: number;
  kind: Kind;
  /** For message-valued fields (and message-valued map entries). */
  sub?: TypePlan;
  omitEmpty: boolean;
  wireType: number;
}

interface TypePlan {
  type: protobuf.Type;
  name: string;
  fields: FieldPlan[];
  byId: Map<number, FieldPlan>;
}

const plans = new Map<protobuf.Type, TypePlan>();

function planFor(type: protobuf.Type): TypePlan {
  let plan = plans.get(type);
  if (plan) return plan;
  const name = type.fullName.replace(/^\./, '');
  plan = { type, name, fields: [], byId: new Map() };
  // Registered before the fields so that recursive types terminate.
  plans.set(type, plan);
  const omit = new Set(OMIT_EMPTY[name] ?? []);
  for (const field of type.fieldsArray) {
    field.resolve();
    const rt = field.resolvedType;
    const msgType = rt instanceof protobuf.Type ? rt : undefined;
    const msgName = msgType?.fullName.replace(/^\./, '');
    let kind: Kind;
    if (field.map) kind = 'map';
    else if (msgName === `${META}.Time`) kind = 'time';
    else if (msgName === `${INTSTR}.IntOrString`) kind = 'intstr';
    else if (field.repeated) kind = msgType ? 'repeated-message' : 'repeated-scalar';
    else if (msgType) kind = 'message';
    else if (field.type === 'int64' || field.type === 'uint64' || field.type === 'sint64') kind = 'long';
    else if (field.type === 'bytes') kind = 'bytes';
    else kind = 'scalar';
    const lengthDelimited = field.map || msgType !== undefined || field.type === 'string' || field.type === 'bytes';
    const fp: FieldPlan = { name: field.name, id: field.id, kind, omitEmpty: omit.has(field.name), wireType: lengthDelimited ? 2 : 0 };
    plan.fields.push(fp);
    plan.byId.set(field.id, fp);
  }
  // Sub-plans after registration (lazily would also do; the schema is small).
  for (const fp of plan.fields) {
    const field = type.fields[fp.name]!;
    const rt = field.resolvedType;
    if (rt instanceof protobuf.Type && fp.kind !== 'time' && fp.kind !== 'intstr') fp.sub = planFor(rt);
  }
  return plan;
}

function planNamed(name: string): TypePlan {
  return planFor(lookupType(name));
}

function hasOwn(o: object, k: string): boolean {
  return Object.prototype.hasOwnProperty.call(o, k);
}

function toNumber(v: unknown): number {
  return typeof v === 'number' ? v : (v as { toNumber(): number }).toNumber();
}

function isZero(v: unknown): boolean {
  return v === '' || v === 0 || v === false;
}

/** A field we know, sent with a wire type it cannot have: the stream is not what we think it is. */
function checkUnknowns(plan: TypePlan, unknowns: Uint8Array[]): void {
  for (const raw of unknowns) {
    let tag = 0;
    let shift = 0;
    for (let i = 0; i < raw.length && i < 5; i++) {
      const b = raw[i]!;
      tag += (b & 0x7f) * 2 ** shift;
      shift += 7;
      if (b < 0x80) break;
    }
    const id = Math.floor(tag / 8);
    const field = plan.byId.get(id);
    if (field) {
      const wt = tag % 8;
      throw new ProtocolError(
        `${plan.name}.${field.name} (field ${id}) has wire type ${wt} (${WIRE_TYPE_NAMES[wt]}), expected ${field.wireType} (${WIRE_TYPE_NAMES[field.wireType]})`,
      );
    }
  }
}

function timeToJson(m: { seconds?: unknown; nanos?: number }): string | undefined {
  const seconds = m.seconds === undefined ? 0 : toNumber(m.seconds);
  if (seconds === GO_ZERO_TIME_SECONDS && !m.nanos) return undefined;
  // metav1.Time marshals to JSON at second precision (RFC 3339, UTC).
  return new Date(seconds * 1000).toISOString().slice(0, 19) + 'Z';
}

function intOrStringToJson(m: { type?: unknown; intVal?: number; strVal?: string }): number | string {
  const type = m.type === undefined ? 0 : toNumber(m.type);
  return type === 1 ? (m.strVal ?? '') : (m.intVal ?? 0);
}

/** A decoded protobufjs message → the API's JSON shape. */
function toJson(plan: TypePlan, m: Record<string, any>): Record<string, unknown> {
  const unknowns = (m as { $unknowns?: Uint8Array[] }).$unknowns;
  if (unknowns) checkUnknowns(plan, unknowns);
  const out: Record<string, unknown> = {};
  for (const f of plan.fields) {
    const name = f.name;
    switch (f.kind) {
      case 'scalar': {
        if (!hasOwn(m, name)) break;
        const v = m[name];
        if (f.omitEmpty && isZero(v)) break;
        out[name] = v;
        break;
      }
      case 'long': {
        if (!hasOwn(m, name)) break;
        const v = toNumber(m[name]);
        if (f.omitEmpty && v === 0) break;
        out[name] = v;
        break;
      }
      case 'bytes': {
        if (!hasOwn(m, name)) break;
        const v = m[name] as Uint8Array;
        if (f.omitEmpty && v.length === 0) break;
        out[name] = Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64');
        break;
      }
      case 'message':
        if (hasOwn(m, name)) out[name] = toJson(f.sub!, m[name]);
        break;
      case 'time': {
        if (!hasOwn(m, name)) break;
        const t = timeToJson(m[name]);
        if (t !== undefined) out[name] = t;
        break;
      }
      case 'intstr':
        if (hasOwn(m, name)) out[name] = intOrStringToJson(m[name]);
        break;
      case 'map': {
        const v = m[name] as Record<string, unknown> | undefined;
        if (!v) break;
        const keys = Object.keys(v);
        if (keys.length === 0) break;
        if (f.sub) {
          const o: Record<string, unknown> = {};
          for (const k of keys) o[k] = toJson(f.sub, v[k] as Record<string, any>);
          out[name] = o;
        } else {
          out[name] = v;
        }
        break;
      }
      case 'repeated-scalar': {
        const v = m[name] as unknown[] | undefined;
        if (v && v.length > 0) out[name] = typeof v[0] === 'object' && v[0] !== null ? v.map(toNumber) : v;
        break;
      }
      case 'repeated-message': {
        const v = m[name] as Record<string, any>[] | undefined;
        if (!v || v.length === 0) break;
        const sub = f.sub!;
        const arr = new Array<unknown>(v.length);
        for (let i = 0; i < v.length; i++) arr[i] = toJson(sub, v[i]!);
        out[name] = arr;
        break;
      }
    }
  }
  return out;
}

/** The API's JSON shape → a plain object protobufjs can encode (for the fake API server and the bench). */
function fromJson(plan: TypePlan, o: Record<string, any>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of plan.fields) {
    const v = o[f.name];
    if (v === undefined || v === null) continue;
    switch (f.kind) {
      case 'scalar':
      case 'long':
      case 'repeated-scalar':
        out[f.name] = v;
        break;
      case 'bytes':
        out[f.name] = Buffer.from(String(v), 'base64');
        break;
      case 'message':
        out[f.name] = fromJson(f.sub!, v);
        break;
      case 'time': {
        const ms = Date.parse(String(v));
        if (Number.isNaN(ms)) throw new Error(`${plan.name}.${f.name}: not a time: ${String(v)}`);
        out[f.name] = { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 };
        break;
      }
      case 'intstr':
        out[f.name] = typeof v === 'number' ? { type: 0, intVal: v } : { type: 1, strVal: String(v) };
        break;
      case 'map':
        if (f.sub) {
          const m: Record<string, unknown> = {};
          for (const [k, e] of Object.entries(v as Record<string, any>)) m[k] = fromJson(f.sub, e);
          out[f.name] = m;
        } else {
          out[f.name] = v;
        }
        break;
      case 'repeated-message':
        out[f.name] = (v as Record<string, any>[]).map((e) => fromJson(f.sub!, e));
        break;
    }
  }
  return out;
}

function readerFor(buf: Uint8Array): protobuf.Reader {
  const r = protobuf.Reader.create(buf);
  // Kept so that a known field with the wrong wire type can be told from an unknown field.
  r.discardUnknown = false;
  return r;
}

/** Decodes `buf` as `plan`'s message, naming `what` in any error. */
function decodeMessage(plan: TypePlan, buf: Uint8Array, what: string): Record<string, unknown> {
  let msg: protobuf.Message;
  try {
    msg = plan.type.decode(readerFor(buf));
  } catch (err) {
    throw new ProtocolError(`${what}: cannot decode ${plan.name}: ${(err as Error).message}`);
  }
  try {
    return toJson(plan, msg as unknown as Record<string, any>);
  } catch (err) {
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
  if (buf.length < 4 || buf[0] !== MAGIC[0] || buf[1] !== MAGIC[1] || buf[2] !== MAGIC[2] || buf[3] !== MAGIC[3]) {
    throw new ProtocolError(`${what}: not a Kubernetes protobuf object: expected magic 6b 38 73 00 ("k8s\\0"), got ${hex(buf.subarray(0, 4))}`);
  }
  const unknownPlan = planNamed(`${RUNTIME}.Unknown`);
  let env: { typeMeta?: { apiVersion?: string; kind?: string; $unknowns?: Uint8Array[] }; raw?: Uint8Array; contentEncoding?: string; contentType?: string; $unknowns?: Uint8Array[] };
  try {
    env = unknownPlan.type.decode(readerFor(buf.subarray(4))) as unknown as typeof env;
    if (env.$unknowns) checkUnknowns(unknownPlan, env.$unknowns);
    if (env.typeMeta?.$unknowns) checkUnknowns(planNamed(`${RUNTIME}.TypeMeta`), env.typeMeta.$unknowns);
  } catch (err) {
    throw new ProtocolError(`${what}: bad envelope (runtime.Unknown): ${(err as Error).message}`);
  }
  if (env.contentEncoding) throw new ProtocolError(`${what}: unsupported contentEncoding ${JSON.stringify(env.contentEncoding)}`);
  if (env.contentType && env.contentType !== PROTOBUF_MEDIA_TYPE) {
    throw new ProtocolError(`${what}: unsupported contentType ${JSON.stringify(env.contentType)} inside the envelope`);
  }
  return { apiVersion: env.typeMeta?.apiVersion ?? '', kind: env.typeMeta?.kind ?? '', raw: env.raw ?? new Uint8Array(0) };
}

function planForKind(apiVersion: string, kind: string, what: string): TypePlan {
  const name = KINDS[`${apiVersion}/${kind}`];
  if (!name) throw new ProtocolError(`${what}: unknown kind ${JSON.stringify(kind)} (apiVersion ${JSON.stringify(apiVersion)})`);
  return planNamed(name);
}

/** An enveloped object (or list) → its JSON shape, with apiVersion and kind from the envelope. */
export function decodeObject(buf: Uint8Array, what = 'object'): Record<string, unknown> {
  const { apiVersion, kind, raw } = decodeEnvelope(buf, what);
  const plan = planForKind(apiVersion, kind, what);
  return { apiVersion, kind, ...decodeMessage(plan, raw, `${what} (${kind})`) };
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
  const plan = planNamed(`${META}.WatchEvent`);
  let ev: { type?: string; object?: { raw?: Uint8Array; $unknowns?: Uint8Array[] }; $unknowns?: Uint8Array[] };
  try {
    ev = plan.type.decode(readerFor(frame)) as unknown as typeof ev;
    if (ev.$unknowns) checkUnknowns(plan, ev.$unknowns);
    if (ev.object?.$unknowns) checkUnknowns(planNamed(`${RUNTIME}.RawExtension`), ev.object.$unknowns);
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
    if (this.size < 4) {
      if (this.ended && this.size > 0) throw new ProtocolError(`watch stream ended inside a frame's length prefix (${this.size} of 4 bytes)`);
      return undefined;
    }
    const length = this.coalesce(4).readUInt32BE(0);
    if (length > this.maxFrameBytes) {
      throw new ProtocolError(`watch frame length ${length} exceeds the limit of ${this.maxFrameBytes} bytes`);
    }
    if (this.size < 4 + length) {
      if (this.ended) throw new ProtocolError(`watch stream ended inside a frame: ${this.size - 4} of ${length} bytes`);
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

/** A JSON-shaped object with apiVersion and kind → "k8s\0" + runtime.Unknown. */
export function encodeObject(obj: Record<string, unknown>): Buffer {
  const apiVersion = String(obj.apiVersion ?? '');
  const kind = String(obj.kind ?? '');
  const plan = planForKind(apiVersion, kind, 'encode');
  const raw = plan.type.encode(fromJson(plan, obj)).finish();
  const env = lookupType(`${RUNTIME}.Unknown`).encode({ typeMeta: { apiVersion, kind }, raw, contentEncoding: '', contentType: '' }).finish();
  const out = Buffer.allocUnsafe(4 + env.length);
  out.set(MAGIC, 0);
  out.set(env, 4);
  return out;
}

/** One watch event as a length-prefixed frame. */
export function encodeWatchFrame(ev: { type: string; object: unknown }): Buffer {
  const raw = encodeObject(ev.object as Record<string, unknown>);
  const body = lookupType(`${META}.WatchEvent`).encode({ type: ev.type, object: { raw } }).finish();
  const out = Buffer.allocUnsafe(4 + body.length);
  out.writeUInt32BE(body.length, 0);
  out.set(body, 4);
  return out;
}

/** Whether a Content-Type is the Kubernetes protobuf (object or stream) media type. */
export function isProtobufContentType(contentType: string | undefined): boolean {
  return (contentType ?? '').split(';')[0]!.trim().toLowerCase() === PROTOBUF_MEDIA_TYPE;
}
