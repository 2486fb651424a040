// A single-pass protobuf decoder that writes the API's JSON shape directly: it walks the bytes
// of a Buffer with its own varint / length-delimited reader, driven by per-message field tables
// compiled once from the loaded schema (field number → name, kind, expected wire type, nested
// table, zero-omission rule). No protobufjs message objects are built, so nothing is converted
// (or held) twice.
//
// Semantics, as protobuf (and Go's generated code) has them:
//   - unknown fields are skipped, of every wire type (groups too, nested, with matching end tags);
//   - a known field with a wire type it cannot have is an error (`Invalid`), except that a repeated
//     numeric field is accepted both packed (length-delimited) and unpacked;
//   - a singular field seen twice: the last scalar wins, messages merge, repeated fields and maps
//     append;
//   - bytes that end early, a varint over 10 bytes, a length past the end of its message, an
//     invalid wire type, field number 0, a stray or mismatched end-group tag are `Malformed`.
//
// JSON shape (the same as the JSON wire gives): names as in the schema (upstream proto names are
// the JSON names), int64 as a number, bytes as base64, metav1.Time as RFC 3339 (seconds; Go's zero
// time as absent), IntOrString as a number or a string, maps as plain objects, empty repeated
// fields and maps absent, and the fields of OMIT_EMPTY absent when zero.

import protobuf from 'protobufjs';
import { OUT_OF_LINE } from './out-of-line.js';
import { INTSTR, META, RUNTIME } from './schema.js';

/** Bytes that are not a well-formed protobuf message (truncated, bad varint, bad tag …). */
export class Malformed extends Error {}
/** Well-formed bytes that are not what the schema says (a known field of the wrong wire type, a time out of range). */
export class Invalid extends Error {}

// Value kinds.
const K_STRING = 0;
const K_BOOL = 1;
const K_INT32 = 2;
const K_UINT32 = 3;
const K_SINT32 = 4;
const K_INT64 = 5;
const K_UINT64 = 6;
const K_SINT64 = 7;
const K_FIXED32 = 8;
const K_SFIXED32 = 9;
const K_FIXED64 = 10;
const K_SFIXED64 = 11;
const K_FLOAT = 12;
const K_DOUBLE = 13;
/** bytes, as base64 (the JSON shape). */
const K_BYTES = 14;
/** bytes, as a view of the input: runtime.Unknown.raw and RawExtension.raw, decoded again by the caller. */
const K_RAW = 15;
const K_MESSAGE = 16;
const K_TIME = 17;
const K_INTSTR = 18;

/** Scalar type name → [kind, wire type]. Enums are read as int32. */
const SCALARS: Readonly<Record<string, readonly [number, number]>> = {
  string: [K_STRING, 2],
  bool: [K_BOOL, 0],
  int32: [K_INT32, 0],
  uint32: [K_UINT32, 0],
  sint32: [K_SINT32, 0],
  int64: [K_INT64, 0],
  uint64: [K_UINT64, 0],
  sint64: [K_SINT64, 0],
  fixed32: [K_FIXED32, 5],
  sfixed32: [K_SFIXED32, 5],
  fixed64: [K_FIXED64, 1],
  sfixed64: [K_SFIXED64, 1],
  float: [K_FLOAT, 5],
  double: [K_DOUBLE, 1],
  bytes: [K_BYTES, 2],
};

export const WIRE_TYPE_NAMES = ['varint', '64-bit', 'length-delimited', 'start-group', 'end-group', '32-bit', 'invalid (6)', 'invalid (7)'];

/** Deepest nesting of (unknown) groups skipped, as protobufjs and protoc limit it. */
const MAX_GROUP_DEPTH = 100;

/** Go's zero time.Time (0001-01-01T00:00:00Z) in Unix seconds: what a non-pointer, unset metav1.Time is written as. */
const GO_ZERO_TIME_SECONDS = -62135596800;

export interface FieldPlan {
  readonly name: string;
  readonly id: number;
  /** Value kind (of a map: of its values). */
  readonly kind: number;
  readonly repeated: boolean;
  readonly map: boolean;
  /** Map key kind (string or an integer kind). */
  readonly keyKind: number;
  readonly keyWireType: number;
  /** Wire type of one (unpacked) occurrence; of a map, 2; of a map's value, valueWireType. */
  readonly wireType: number;
  readonly valueWireType: number;
  /** Repeated numeric: a packed (length-delimited) occurrence is accepted as well. */
  readonly packable: boolean;
  readonly omitEmpty: boolean;
  /** 1 << id for ids up to 31, else 0: a bit in the per-message set of fields already seen. */
  readonly bit: number;
  /** The table of a message value (of a map: of its message values). */
  sub: TypePlan | undefined;
}

/** Makes the (empty) JSON object of one message type: see objectMaker. */
type ObjectCtor = new () => Record<string, unknown>;

export interface TypePlan {
  /** Full name, without the leading dot. */
  readonly name: string;
  readonly make: ObjectCtor;
  /** Indexed by field number. */
  readonly byId: ReadonlyArray<FieldPlan | undefined>;
  readonly fields: readonly FieldPlan[];
  /** Decodes the fields of one message of this type, from `pos` to `limit`, into `out`: see compileDecoder. */
  decode: (out: Record<string, unknown>) => void;
}

/**
 * How a plan decodes: 'compiled', by a function of its own from the start (see compileDecoder);
 * 'generic', by decodeFields only; 'adaptive', by decodeFields until the type has been decoded
 * COMPILE_AFTER times, then compiled. Compiling costs JIT work that only many messages repay.
 */
export type DecodeMode = 'compiled' | 'generic' | 'adaptive';

/**
 * Decoding a message with a compiled decoder saves a fraction of a microsecond; optimising that
 * decoder costs the JIT some tens of milliseconds (more when its objects take new shapes).
 * Types met less often than this (most of them, in a list of Services) never pay back.
 */
export const COMPILE_AFTER = 50_000;

const plans: Record<DecodeMode, Map<protobuf.Type, TypePlan>> = { compiled: new Map(), generic: new Map(), adaptive: new Map() };

/**
 * A constructor of plain objects (prototype Object.prototype, so they are indistinguishable from
 * `{}`), one per message type. Made with `new`, V8 sizes them for the properties objects of that
 * type get (slack tracking), so fields are stored in the object itself; `{}` has room for four,
 * then grows a separate property array, and objects that get many keyed stores degrade further.
 */
function objectMaker(): ObjectCtor {
  function JsonObject(): void {}
  JsonObject.prototype = Object.prototype;
  return JsonObject as unknown as ObjectCtor;
}

function fullName(t: protobuf.ReflectionObject): string {
  return t.fullName.replace(/^\./, '');
}

function scalar(type: string, where: string): readonly [number, number] {
  const s = SCALARS[type];
  if (!s) throw new Error(`${where}: unsupported protobuf type ${type}`);
  return s;
}

/**
 * The field table of a message type, built once. `omitEmpty` lists, per message (full name), the
 * fields whose zero value is left out (Go's omitempty on a non-pointer field).
 */
export function compilePlan(type: protobuf.Type, omitEmpty: Readonly<Record<string, readonly string[]>>, mode: DecodeMode = 'compiled'): TypePlan {
  const cache = plans[mode];
  const existing = cache.get(type);
  if (existing) return existing;
  const name = fullName(type);
  const omit = new Set(omitEmpty[name] ?? []);
  const fields: FieldPlan[] = [];
  let maxId = 0;
  const subTypes: Array<protobuf.Type | undefined> = [];
  for (const field of type.fieldsArray) {
    field.resolve();
    const where = `${name}.${field.name}`;
    if (field.delimited) throw new Error(`${where}: groups are not supported`);
    const rt = field.resolvedType;
    const msgType = rt instanceof protobuf.Type ? rt : undefined;
    const msgName = msgType ? fullName(msgType) : undefined;
    let kind: number;
    let wireType: number;
    if (msgType) {
      kind = msgName === `${META}.Time` ? K_TIME : msgName === `${INTSTR}.IntOrString` ? K_INTSTR : K_MESSAGE;
      wireType = 2;
    } else if (rt instanceof protobuf.Enum) {
      [kind, wireType] = SCALARS.int32!;
    } else {
      [kind, wireType] = scalar(field.type, where);
      if (kind === K_BYTES && (name === `${RUNTIME}.Unknown` || name === `${RUNTIME}.RawExtension`)) kind = K_RAW;
    }
    let keyKind = K_STRING;
    let keyWireType = 2;
    if (field.map) [keyKind, keyWireType] = scalar((field as unknown as protobuf.MapField).keyType, `${where} (key)`);
    const id = field.id;
    maxId = Math.max(maxId, id);
    fields.push({
      name: field.name,
      id,
      kind,
      repeated: field.repeated && !field.map,
      map: field.map,
      keyKind,
      keyWireType,
      wireType: field.map ? 2 : wireType,
      valueWireType: wireType,
      packable: field.repeated && !field.map && wireType !== 2,
      omitEmpty: omit.has(field.name),
      bit: id <= 31 ? 1 << id : 0,
      sub: undefined,
    });
    subTypes.push(msgType);
  }
  const byId = new Array<FieldPlan | undefined>(maxId + 1).fill(undefined);
  for (const f of fields) byId[f.id] = f;
  if (name === `${META}.Time` || name === `${INTSTR}.IntOrString`) checkSpecialLayout(name, byId);
  const plan: TypePlan = { name, make: objectMaker(), byId, fields, decode: (out) => decodeFields(plan, out) };
  // Registered before the nested tables so that recursive types terminate.
  cache.set(type, plan);
  fields.forEach((f, i) => {
    const t = subTypes[i];
    if (t) f.sub = compilePlan(t, omitEmpty, mode);
  });
  if (mode === 'compiled') plan.decode = compileDecoder(plan);
  else if (mode === 'adaptive') plan.decode = adaptiveDecoder(plan);
  return plan;
}

function adaptiveDecoder(plan: TypePlan): (out: Record<string, unknown>) => void {
  let uses = 0;
  return (out) => {
    if (++uses === COMPILE_AFTER) plan.decode = compileDecoder(plan);
    decodeFields(plan, out);
  };
}

/** readSpecial reads Time and IntOrString by field number: 1 int64, 2 int32, 3 string (IntOrString only). */
function checkSpecialLayout(name: string, byId: ReadonlyArray<FieldPlan | undefined>): void {
  const want = name.endsWith('.Time') ? [K_INT64, K_INT32] : [K_INT64, K_INT32, K_STRING];
  const ok = byId.length === want.length + 1 && want.every((k, i) => byId[i + 1]?.kind === k && !byId[i + 1]!.repeated && !byId[i + 1]!.map);
  if (!ok) throw new Error(`${name}: the decoder reads its fields by number and does not know this layout`);
}

// ---------------------------------------------------------------------------------------------
// The reader: one buffer, a position and the end of the message being read. Decoding is
// synchronous and never calls out, so module state is safe; every entry point sets it afresh.

interface FastBuffer extends Buffer {
  utf8Slice(start: number, end: number): string;
  latin1Slice(start: number, end: number): string;
  base64Slice(start: number, end: number): string;
}

const EMPTY = Buffer.alloc(0) as FastBuffer;
let buf: FastBuffer = EMPTY;
let pos = 0;
let limit = 0;
/** High 32 bits of the last 64-bit value read (varint64, fixed64). */
let hi = 0;

function asBuffer(b: Uint8Array): FastBuffer {
  return (Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength)) as FastBuffer;
}

function outOfRange(n: number): Malformed {
  return new Malformed(`index out of range: ${pos} + ${n} > ${limit}`);
}

/** A varint's low 32 bits, unsigned (higher bits are read and dropped, as for int32/uint32). */
function varint32(): number {
  if (pos < limit) {
    const b = buf[pos]!;
    if (b < 0x80) {
      pos++;
      return b;
    }
  }
  return varint32Slow();
}

function varint32Slow(): number {
  if (OUT_OF_LINE) [, , , , , , , , , , , , , , , ,] = OUT_OF_LINE; // never runs: see out-of-line.ts
  let v = 0;
  for (let i = 0; i < 10; i++) {
    if (pos >= limit) throw outOfRange(1);
    const b = buf[pos++]!;
    if (i < 5) v |= (b & 0x7f) << (7 * i);
    if (b < 0x80) return v >>> 0;
  }
  throw new Malformed(`invalid varint encoding at offset ${pos - 10}`);
}

/** A varint as 64 bits: returns the low 32 (unsigned), leaves the high 32 in `hi`. */
function varint64(): number {
  if (OUT_OF_LINE) [, , , , , , , , , , , , , , , ,] = OUT_OF_LINE; // never runs: see out-of-line.ts
  if (pos < limit) {
    const b = buf[pos]!;
    if (b < 0x80) {
      pos++;
      hi = 0;
      return b;
    }
  }
  let lo = 0;
  let h = 0;
  for (let i = 0; i < 10; i++) {
    if (pos >= limit) throw outOfRange(1);
    const b = buf[pos++]!;
    const v = b & 0x7f;
    if (i < 4) lo |= v << (7 * i);
    else if (i === 4) {
      lo |= v << 28;
      h = v >>> 4;
    } else h |= v << (7 * i - 32);
    if (b < 0x80) {
      hi = h >>> 0;
      return lo >>> 0;
    }
  }
  throw new Malformed(`invalid varint encoding at offset ${pos - 10}`);
}

function int64(lo: number, h: number): number {
  return (h | 0) * 4294967296 + lo;
}

function uint64(lo: number, h: number): number {
  return h * 4294967296 + lo;
}

function sint64(lo: number, h: number): number {
  const mask = -(lo & 1);
  return int64((((lo >>> 1) | (h << 31)) ^ mask) >>> 0, ((h >>> 1) ^ mask) >>> 0);
}

/** A length prefix, checked against the end of the enclosing message; returns the end of the value. */
function lengthEnd(): number {
  const len = varint32();
  const end = pos + len;
  if (end > limit) throw outOfRange(len);
  return end;
}

function need(n: number): void {
  if (pos + n > limit) throw outOfRange(n);
}

// Recently decoded short ASCII strings, by a hash of their bytes: a hit costs a hash and a
// compare instead of a call into C++ and a new string. Kubernetes objects repeat short strings
// (protocols, port names, namespaces, node names, zones, label keys) that JSON.parse would
// internalize; here repeats share one string too. Direct-mapped.
// The hash of each entry is kept too, so that a miss (most often a unique value such as an
// address) is told by one compare, not by comparing characters.
const STRING_CACHE_BITS = 14;
const STRING_CACHE_MAX_BYTES = 32;
/** Strings up to this long are made by shortString. */
const SHORT_STRING_MAX_BYTES = 16;
const stringCache: string[] = new Array<string>(1 << STRING_CACHE_BITS).fill('');
const stringHashes = new Int32Array(1 << STRING_CACHE_BITS);
// A string enters the cache only when its slot last missed on the same hash: seen twice in a
// row. Unique values (addresses, uids) then never replace repeated ones, and never get stored
// in the cache, an old-generation array: every young string stored there would be kept alive,
// copied and promoted by the next scavenges, for a cache entry that never hits.
const missHashes = new Int32Array(1 << STRING_CACHE_BITS);

function readString(): string {
  if (OUT_OF_LINE) [, , , , , , , , , , , , , , , ,] = OUT_OF_LINE; // never runs: see out-of-line.ts
  const end = lengthEnd();
  const start = pos;
  pos = end;
  const len = end - start;
  if (len === 0) return '';
  // Read through a local in the loops below: 3 ns a string faster than through the module variable.
  const b = buf;
  if (len > STRING_CACHE_MAX_BYTES) return b.utf8Slice(start, end);
  let h = len;
  let any = 0;
  for (let i = start; i < end; i++) {
    const c = b[i]!;
    any |= c;
    h = Math.imul(h ^ c, 0x01000193);
  }
  if (any >= 0x80) return b.utf8Slice(start, end);
  const slot = h >>> (32 - STRING_CACHE_BITS);
  if (stringHashes[slot] === h) {
    const cached = stringCache[slot]!;
    if (cached.length === len) {
      let i = 0;
      while (i < len && cached.charCodeAt(i) === b[start + i]) i++;
      if (i === len) return cached;
    }
  }
  const s = len <= SHORT_STRING_MAX_BYTES ? shortString(b, start, len) : b.latin1Slice(start, end);
  if (missHashes[slot] === h) {
    stringCache[slot] = s;
    stringHashes[slot] = h;
  } else {
    missHashes[slot] = h;
  }
  return s;
}

/**
 * The ASCII string of `len` bytes (1 … SHORT_STRING_MAX_BYTES) at `s`. String.fromCharCode with
 * the bytes as arguments is a builtin that TurboFan calls directly: 27 ns for an address such as
 * 10.244.106.63, where latin1Slice, a call into C++, takes 70. Most strings that miss the cache
 * are addresses and names of this length.
 */
function shortString(b: FastBuffer, s: number, len: number): string {
  switch (len) {
    case 1: return String.fromCharCode(b[s]!);
    case 2: return String.fromCharCode(b[s]!, b[s + 1]!);
    case 3: return String.fromCharCode(b[s]!, b[s + 1]!, b[s + 2]!);
    case 4: return String.fromCharCode(b[s]!, b[s + 1]!, b[s + 2]!, b[s + 3]!);
    case 5: return String.fromCharCode(b[s]!, b[s + 1]!, b[s + 2]!, b[s + 3]!, b[s + 4]!);
    case 6: return String.fromCharCode(b[s]!, b[s + 1]!, b[s + 2]!, b[s + 3]!, b[s + 4]!, b[s + 5]!);
    case 7: return String.fromCharCode(b[s]!, b[s + 1]!, b[s + 2]!, b[s + 3]!, b[s + 4]!, b[s + 5]!, b[s + 6]!);
    case 8: return String.fromCharCode(b[s]!, b[s + 1]!, b[s + 2]!, b[s + 3]!, b[s + 4]!, b[s + 5]!, b[s + 6]!, b[s + 7]!);
    case 9: return String.fromCharCode(b[s]!, b[s + 1]!, b[s + 2]!, b[s + 3]!, b[s + 4]!, b[s + 5]!, b[s + 6]!, b[s + 7]!, b[s + 8]!);
    case 10: return String.fromCharCode(b[s]!, b[s + 1]!, b[s + 2]!, b[s + 3]!, b[s + 4]!, b[s + 5]!, b[s + 6]!, b[s + 7]!, b[s + 8]!, b[s + 9]!);
    case 11: return String.fromCharCode(b[s]!, b[s + 1]!, b[s + 2]!, b[s + 3]!, b[s + 4]!, b[s + 5]!, b[s + 6]!, b[s + 7]!, b[s + 8]!, b[s + 9]!, b[s + 10]!);
    case 12: return String.fromCharCode(b[s]!, b[s + 1]!, b[s + 2]!, b[s + 3]!, b[s + 4]!, b[s + 5]!, b[s + 6]!, b[s + 7]!, b[s + 8]!, b[s + 9]!, b[s + 10]!, b[s + 11]!);
    case 13: return String.fromCharCode(b[s]!, b[s + 1]!, b[s + 2]!, b[s + 3]!, b[s + 4]!, b[s + 5]!, b[s + 6]!, b[s + 7]!, b[s + 8]!, b[s + 9]!, b[s + 10]!, b[s + 11]!, b[s + 12]!);
    case 14: return String.fromCharCode(b[s]!, b[s + 1]!, b[s + 2]!, b[s + 3]!, b[s + 4]!, b[s + 5]!, b[s + 6]!, b[s + 7]!, b[s + 8]!, b[s + 9]!, b[s + 10]!, b[s + 11]!, b[s + 12]!, b[s + 13]!);
    case 15: return String.fromCharCode(b[s]!, b[s + 1]!, b[s + 2]!, b[s + 3]!, b[s + 4]!, b[s + 5]!, b[s + 6]!, b[s + 7]!, b[s + 8]!, b[s + 9]!, b[s + 10]!, b[s + 11]!, b[s + 12]!, b[s + 13]!, b[s + 14]!);
    case 16: return String.fromCharCode(b[s]!, b[s + 1]!, b[s + 2]!, b[s + 3]!, b[s + 4]!, b[s + 5]!, b[s + 6]!, b[s + 7]!, b[s + 8]!, b[s + 9]!, b[s + 10]!, b[s + 11]!, b[s + 12]!, b[s + 13]!, b[s + 14]!, b[s + 15]!);
    default: return b.latin1Slice(s, s + len); // not reached: readString passes 1 … 16
  }
}

// Every case runs here, so that each of its loads has type feedback before TurboFan optimises
// shortString. Otherwise the first string of a length not yet met throws the optimised code
// away, and it is compiled again: seven times in `bench wire`, ~35 ms of helper-thread CPU,
// against one compile with this warm-up.
// V8 starts recording feedback only once a function has run for a while (its "feedback
// allocation" budget): with `--trace-opt`, five rounds still gave seven compiles, seven
// rounds one. Fifty rounds take some tens of microseconds.
{
  const sample = Buffer.from('0123456789abcdef') as FastBuffer;
  for (let round = 0; round < 50; round++) for (let n = 1; n <= SHORT_STRING_MAX_BYTES; n++) shortString(sample, 0, n);
}

/** One value of a scalar kind (not a message). */
function readScalar(kind: number): unknown {
  switch (kind) {
    case K_STRING:
      return readString();
    case K_BOOL: {
      const lo = varint64();
      return (lo | hi) !== 0;
    }
    case K_INT32:
      return varint32() | 0;
    case K_UINT32:
      return varint32();
    case K_SINT32: {
      const v = varint32();
      return ((v >>> 1) ^ -(v & 1)) | 0;
    }
    case K_INT64:
      return int64(varint64(), hi);
    case K_UINT64:
      return uint64(varint64(), hi);
    case K_SINT64:
      return sint64(varint64(), hi);
    case K_FIXED32:
    case K_SFIXED32:
    case K_FLOAT: {
      need(4);
      const p = pos;
      pos += 4;
      return kind === K_FIXED32 ? buf.readUInt32LE(p) : kind === K_SFIXED32 ? buf.readInt32LE(p) : buf.readFloatLE(p);
    }
    case K_FIXED64:
    case K_SFIXED64:
    case K_DOUBLE: {
      need(8);
      const p = pos;
      pos += 8;
      if (kind === K_DOUBLE) return buf.readDoubleLE(p);
      const lo = buf.readUInt32LE(p);
      const h = buf.readUInt32LE(p + 4);
      return kind === K_FIXED64 ? uint64(lo, h) : int64(lo, h);
    }
    case K_BYTES: {
      const end = lengthEnd();
      const s = end === pos ? '' : buf.base64Slice(pos, end);
      pos = end;
      return s;
    }
    case K_RAW: {
      const end = lengthEnd();
      const v = buf.subarray(pos, end);
      pos = end;
      return v;
    }
    default:
      throw new Error(`readScalar: kind ${kind}`);
  }
}

/** Skips one field's value (after its tag). */
function skipField(wireType: number, id: number, depth: number): void {
  if (id === 0) throw new Malformed('illegal tag: field number 0');
  switch (wireType) {
    case 0:
      for (let i = 0; ; i++) {
        if (i === 10) throw new Malformed(`invalid varint encoding at offset ${pos - 10}`);
        if (pos >= limit) throw outOfRange(1);
        if (buf[pos++]! < 0x80) return;
      }
    case 1:
      need(8);
      pos += 8;
      return;
    case 2:
      pos = lengthEnd();
      return;
    case 3:
      if (depth >= MAX_GROUP_DEPTH) throw new Malformed('max depth exceeded');
      for (;;) {
        const tag = varint32();
        const nested = tag >>> 3;
        const wt = tag & 7;
        if (nested === 0) throw new Malformed('illegal tag: field number 0');
        if (wt === 4) {
          if (nested !== id) throw new Malformed(`invalid end group tag: group ${id} ended by ${nested}`);
          return;
        }
        skipField(wt, nested, depth + 1);
      }
    case 5:
      need(4);
      pos += 4;
      return;
    default:
      throw new Malformed(`invalid wire type ${wireType} at offset ${pos}`);
  }
}

function wrongWireType(plan: TypePlan, f: FieldPlan, wt: number, what = ''): Invalid {
  const expected = what === ' map key' ? f.keyWireType : what === ' map value' ? f.valueWireType : f.wireType;
  return new Invalid(
    `${plan.name}.${f.name} (field ${f.id})${what} has wire type ${wt} (${WIRE_TYPE_NAMES[wt]}), expected ${expected} (${WIRE_TYPE_NAMES[expected]})`,
  );
}

/** A length-delimited message value; decoded into `into` (merging) or a new object. */
function readMessage(sub: TypePlan, into: Record<string, unknown> | undefined): Record<string, unknown> {
  if (OUT_OF_LINE) [, , , , , , , , , , , , , , , ,] = OUT_OF_LINE; // never runs: see out-of-line.ts
  const end = lengthEnd();
  const saved = limit;
  limit = end;
  const o = into ?? new sub.make();
  sub.decode(o);
  limit = saved;
  return o;
}

/** A bool (varint, any non-zero bit of 64 is true). */
function readBool(): boolean {
  return (varint64() | hi) !== 0;
}

// metav1.Time {seconds = 1, nanos = 2} and intstr.IntOrString {type = 1, intVal = 2, strVal = 3}
// have no object of their own in JSON: their fields are read into these (merging, as protobuf
// merges a message field that occurs twice) and turned into a string or number.
let specialA = 0;
let specialB = 0;
let specialC = '';

/** One Time / IntOrString occurrence into specialA/B/C; `reset` for the first occurrence. */
function readSpecial(f: FieldPlan, reset: boolean): void {
  const sub = f.sub!;
  if (reset) {
    specialA = 0;
    specialB = 0;
    specialC = '';
  }
  const end = lengthEnd();
  const saved = limit;
  limit = end;
  const byId = sub.byId;
  while (pos < limit) {
    const tag = varint32();
    const id = tag >>> 3;
    const wt = tag & 7;
    const sf = id <= 3 ? byId[id] : undefined;
    if (sf === undefined) {
      skipField(wt, id, 0);
      continue;
    }
    if (wt !== sf.wireType) throw wrongWireType(sub, sf, wt);
    if (id === 1) specialA = int64(varint64(), hi);
    else if (id === 2) specialB = varint32() | 0;
    else specialC = readString();
  }
  limit = saved;
}

/**
 * A Time / IntOrString field met again in the same message (after `msgStart`): its value is
 * the merge of every occurrence. Rare (the API server never sends it), so the occurrences
 * before this one are read again, from bytes already checked.
 */
function readSpecialAgain(f: FieldPlan, msgStart: number, fieldStart: number): void {
  const at = pos;
  pos = msgStart;
  let first = true;
  while (pos < fieldStart) {
    const tag = varint32();
    const id = tag >>> 3;
    if (id === f.id && (tag & 7) === 2) {
      readSpecial(f, first);
      first = false;
    } else skipField(tag & 7, id, 0);
  }
  pos = at;
  readSpecial(f, first);
}

// Time → RFC 3339 at second precision, UTC, as metav1.Time marshals to JSON. Objects listed
// together often share timestamps, so the last one is kept.
let lastSeconds = NaN;
let lastTime = '';
/** 0001-01-01T00:00:00Z … 9999-12-31T23:59:59Z: formatted here; outside, Date says what it says. */
const MIN_FAST_SECONDS = -62135596800;
const MAX_FAST_SECONDS = 253402300799;

function pad2(n: number): string {
  return n < 10 ? '0' + n : '' + n;
}

function timeString(seconds: number, nanos: number): string | undefined {
  // Go's zero time.Time: what a non-pointer, unset metav1.Time is written as.
  if (seconds === GO_ZERO_TIME_SECONDS && nanos === 0) return undefined;
  if (seconds === lastSeconds) return lastTime;
  let s: string;
  if (Number.isInteger(seconds) && seconds >= MIN_FAST_SECONDS && seconds <= MAX_FAST_SECONDS) {
    // Civil date from days since the epoch (H. Hinnant's days_from_civil, inverted).
    const days = Math.floor(seconds / 86400);
    let rem = seconds - days * 86400;
    const z = days + 719468;
    const era = Math.floor(z / 146097);
    const doe = z - era * 146097;
    const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
    const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
    const mp = Math.floor((5 * doy + 2) / 153);
    const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
    const m = mp < 10 ? mp + 3 : mp - 9;
    const y = yoe + era * 400 + (m <= 2 ? 1 : 0);
    const hh = Math.floor(rem / 3600);
    rem -= hh * 3600;
    const mm = Math.floor(rem / 60);
    const ss = rem - mm * 60;
    const yyyy = y >= 1000 ? '' + y : ('000' + y).slice(-4);
    s = `${yyyy}-${pad2(m)}-${pad2(d)}T${pad2(hh)}:${pad2(mm)}:${pad2(ss)}Z`;
  } else {
    let iso: string;
    try {
      iso = new Date(seconds * 1000).toISOString();
    } catch (err) {
      throw new Invalid((err as Error).message);
    }
    s = iso.slice(0, 19) + 'Z';
  }
  lastSeconds = seconds;
  lastTime = s;
  return s;
}

/** The JSON value of the Time / IntOrString just read into specialA/B/C (undefined: a zero Time, absent). */
function specialValue(kind: number): string | number | undefined {
  return kind === K_TIME ? timeString(specialA, specialB) : specialA === 1 ? specialC : specialB;
}

/** The fields of one message, from `pos` to `limit`, into `out`: any type, by its table. */
function decodeFields(plan: TypePlan, out: Record<string, unknown>): void {
  const msgStart = pos;
  let seen = 0;
  while (pos < limit) {
    const fieldStart = pos;
    seen = decodeField(plan, out, varint32(), seen, msgStart, fieldStart);
  }
}

/**
 * One field of a message of `plan` whose tag was just read: every case, by the table. `seen`
 * holds the fields met before in this message (a bit per field number up to 31); returns it
 * updated. `msgStart` and `fieldStart` locate the message and this field, for readSpecialAgain.
 */
function decodeField(plan: TypePlan, out: Record<string, unknown>, tag: number, seen: number, msgStart: number, fieldStart: number): number {
  const byId = plan.byId;
  const id = tag >>> 3;
  const wt = tag & 7;
  const f = id < byId.length ? byId[id] : undefined;
  if (f === undefined) {
    skipField(wt, id, 0);
    return seen;
  }
  // Seen before in this message (always "maybe" for field numbers over 31).
  const again = f.bit === 0 || (seen & f.bit) !== 0;
  seen |= f.bit;
  if (f.repeated) {
    const arr = repeatedValue(plan, f, wt, again ? (out[f.name] as unknown[] | undefined) : undefined);
    if (arr !== undefined) out[f.name] = arr;
    return seen;
  }
  if (f.map) {
    const obj = mapValue(plan, f, wt, again ? (out[f.name] as Record<string, unknown> | undefined) : undefined);
    if (obj !== undefined) out[f.name] = obj;
    return seen;
  }
  if (wt !== f.wireType) throw wrongWireType(plan, f, wt);
  const kind = f.kind;
  let v: unknown;
  let zero: boolean;
  switch (kind) {
    case K_STRING: {
      const s = readString();
      v = s;
      zero = s === '';
      break;
    }
    case K_MESSAGE: {
      const prev = again ? (out[f.name] as Record<string, unknown> | undefined) : undefined;
      const o = readMessage(f.sub!, prev);
      if (o !== prev) out[f.name] = o;
      return seen;
    }
    case K_BOOL: {
      const b = readBool();
      v = b;
      zero = !b;
      break;
    }
    case K_INT32: {
      const i = varint32() | 0;
      v = i;
      zero = i === 0;
      break;
    }
    case K_TIME:
    case K_INTSTR: {
      if (again) readSpecialAgain(f, msgStart, fieldStart);
      else readSpecial(f, true);
      const sv = specialValue(kind);
      if (sv !== undefined) out[f.name] = sv;
      else if (again) delete out[f.name];
      return seen;
    }
    default:
      v = readScalar(kind);
      zero = v === '' || v === 0 || v === false;
  }
  if (zero && f.omitEmpty) {
    if (again) delete out[f.name];
  } else out[f.name] = v;
  return seen;
}

// ---------------------------------------------------------------------------------------------
// Compiled decoders. decodeFields serves every type from its table: one function whose property
// stores see every field name of every message (megamorphic) and that V8 optimises only after
// many objects. Each type also gets a function of its own, written from its table: a switch on
// the whole tag for the fields read in the common way (strings, bools, int32, messages,
// repeated fields and maps at their expected wire type), storing to constant property names.
// Every other tag (unknown fields, unexpected wire types, Time, IntOrString, other scalars)
// goes to decodeField, so the semantics are decodeFields' exactly; the tests decode with both.

/** The source of one case of a compiled decoder, or '' for a field left to decodeField. */
function caseSource(f: FieldPlan, i: number): string {
  const name = JSON.stringify(f.name);
  const field = `F[${i}]`;
  // Seen before in this message; field numbers over 31 have no bit and are always "maybe".
  const again = f.bit === 0 ? 'const again = true;' : `const again = (seen & ${f.bit}) !== 0; seen |= ${f.bit};`;
  const tagOf = (wt: number): number => ((f.id << 3) | wt) >>> 0;
  if (f.repeated) {
    const wts = f.packable ? [f.wireType, 2] : [f.wireType];
    return wts
      .map((wt) => `case ${tagOf(wt)}: { ${again} const v = repeatedValue(P, ${field}, ${wt}, again ? out[${name}] : undefined); if (v !== undefined) out[${name}] = v; continue; }`)
      .join('\n');
  }
  if (f.map) {
    return `case ${tagOf(2)}: { ${again} const v = mapValue(P, ${field}, 2, again ? out[${name}] : undefined); if (v !== undefined) out[${name}] = v; continue; }`;
  }
  const store = (value: string, zero: string): string =>
    f.omitEmpty
      ? `{ ${again} const v = ${value}; if (${zero}) { if (again) delete out[${name}]; } else out[${name}] = v; continue; }`
      : `{ ${f.bit === 0 ? '' : `seen |= ${f.bit};`} out[${name}] = ${value}; continue; }`;
  switch (f.kind) {
    case K_STRING:
      return `case ${tagOf(2)}: ${store('readString()', "v === ''")}`;
    case K_BOOL:
      return `case ${tagOf(0)}: ${store('readBool()', '!v')}`;
    case K_INT32:
      return `case ${tagOf(0)}: ${store('varint32() | 0', 'v === 0')}`;
    case K_MESSAGE:
      return `case ${tagOf(2)}: { ${again} const prev = again ? out[${name}] : undefined; const o = readMessage(${field}.sub, prev); if (o !== prev) out[${name}] = o; continue; }`;
    default:
      return '';
  }
}

/**
 * The compiled decoder of one type. The source is made only from the schema's field numbers and
 * names (names as JSON string literals), and evaluated here so that it reads the decoder's own
 * state and helpers (pos, limit, readString …) as the hand-written functions do.
 */
function compileDecoder(plan: TypePlan): (out: Record<string, unknown>) => void {
  const cases = plan.fields.map(caseSource).filter((c) => c !== '');
  if (cases.length === 0) return (out) => decodeFields(plan, out);
  // An arrow function, as the decoders it replaces are: plan.decode then holds functions of one
  // hidden class, and replacing one does not make V8 discard code that read the field.
  const name = `decode_${plan.name.replace(/[^A-Za-z0-9_]/g, '_')}`;
  const source = `(function (P, F) {
  const ${name} = (out) => {
    const msgStart = pos;
    let seen = 0;
    while (pos < limit) {
      const fieldStart = pos;
      const tag = varint32();
      switch (tag) {
${cases.join('\n')}
      }
      seen = decodeField(P, out, tag, seen, msgStart, fieldStart);
    }
  };
  return ${name};
})`;
  // A direct eval: the function it makes closes over this module's scope.
  const factory = eval(source) as (p: TypePlan, f: readonly FieldPlan[]) => (out: Record<string, unknown>) => void;
  return factory(plan, plan.fields);
}

/** Whether the next tag is field `id` (then consumed, its wire type returned), else -1 and nothing consumed. */
function nextIs(id: number): number {
  if (pos >= limit) return -1;
  const at = pos;
  const tag = varint32();
  if (tag >>> 3 === id) return tag & 7;
  pos = at;
  return -1;
}

/**
 * How many values of length-delimited field `id` follow one another from `pos` (at the first
 * one's length prefix), so that its array is made at its final size (an array grown by push
 * keeps spare capacity: three times the memory for a one-element array). Never throws: at bytes
 * it cannot step over it stops counting, and decoding them reports the error.
 */
function countRun(id: number): number {
  const tag = (id << 3) | 2;
  let p = pos;
  let n = 0;
  for (;;) {
    // The length prefix.
    let len = 0;
    let shift = 0;
    let b = 0x80;
    while (b >= 0x80) {
      if (p >= limit || shift > 28) return Math.max(n, 1);
      b = buf[p++]!;
      len += (b & 0x7f) * 2 ** shift;
      shift += 7;
    }
    p += len;
    if (p > limit) return Math.max(n, 1);
    n++;
    // The next tag: one byte for fields up to 15, two up to 2047.
    if (tag < 0x80) {
      if (p < limit && buf[p] === tag) p++;
      else return n;
    } else if (tag < 0x4000) {
      if (p + 1 < limit && buf[p] === ((tag & 0x7f) | 0x80) && buf[p + 1] === tag >>> 7) p += 2;
      else return n;
    } else return n;
  }
}

const ONE_ELEMENT: readonly unknown[] = [undefined];

/**
 * [v], made without an allocation site. V8 pretenures an array literal's site once nearly all
 * of its arrays survive, as every endpoint's `addresses` does in a list that is kept; from then
 * on each such array, also in watch events dropped a moment later, is made in the old
 * generation and keeps the young strings it holds alive through every scavenge (measured: 1.2 MB
 * promoted per scavenge in the wire bench's watch phase, against nothing for JSON). A clone of a
 * constant array has no site, and TurboFan inlines it.
 */
function arrayOf(v: unknown): unknown[] {
  const a = ONE_ELEMENT.slice();
  a[0] = v;
  return a;
}

/** One element of a repeated field, its wire type checked. */
function readElement(f: FieldPlan): unknown {
  if (OUT_OF_LINE) [, , , , , , , , , , , , , , , ,] = OUT_OF_LINE; // never runs: see out-of-line.ts
  const kind = f.kind;
  if (kind === K_MESSAGE) return readMessage(f.sub!, undefined);
  if (kind === K_STRING) return readString();
  if (kind === K_TIME || kind === K_INTSTR) {
    readSpecial(f, true);
    // A zero Time in a list has no JSON of its own; null is what Go's JSON writes there.
    return specialValue(kind) ?? null;
  }
  return readScalar(kind);
}

/**
 * A repeated field: this occurrence and those right after it, appended to `prev` (the field's
 * array so far, when it was met before) or a new array. Returns the array the field must now
 * hold, or undefined when that is unchanged (prev) or nothing (an empty packed run). The caller
 * stores it: in a compiled decoder that is a store to a constant property name.
 */
function repeatedValue(plan: TypePlan, f: FieldPlan, firstWt: number, prev: unknown[] | undefined): unknown[] | undefined {
  let arr: unknown[];
  let wt = firstWt;
  if (prev === undefined && wt === 2 && f.wireType === 2) {
    // The common case: a run of strings or messages. Most runs are one value (an endpoint's
    // addresses); longer ones are counted first so that the array is made at its final size.
    const first = readElement(f);
    wt = nextIs(f.id);
    if (wt < 0) return arrayOf(first);
    if (wt === 2) {
      const n = countRun(f.id);
      arr = new Array<unknown>(n + 1);
      arr[0] = first;
      arr[1] = readElement(f);
      for (let i = 2; i <= n; i++) {
        varint32(); // the tag, as counted
        arr[i] = readElement(f);
      }
      wt = nextIs(f.id);
      if (wt < 0) return arr;
    } else {
      arr = arrayOf(first);
    }
  } else {
    arr = prev ?? [];
  }
  do {
    if (wt === f.wireType) arr.push(readElement(f));
    else if (wt === 2 && f.packable) {
      const end = lengthEnd();
      const saved = limit;
      limit = end;
      while (pos < limit) arr.push(readScalar(f.kind));
      limit = saved;
    } else {
      throw wrongWireType(plan, f, wt);
    }
  } while ((wt = nextIs(f.id)) >= 0);
  return arr.length > 0 && arr !== prev ? arr : undefined;
}

/** A map field: this entry and those right after it, into `prev` or a new object; returns a new object to store, else undefined. */
function mapValue(plan: TypePlan, f: FieldPlan, firstWt: number, prev: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  const obj: Record<string, unknown> = prev ?? {};
  const kind = f.kind;
  let wt = firstWt;
  do {
    if (wt !== 2) throw wrongWireType(plan, f, wt);
    const end = lengthEnd();
    const saved = limit;
    limit = end;
    let key: string | undefined;
    let value: unknown;
    let special = false;
    while (pos < limit) {
      const tag = varint32();
      const id = tag >>> 3;
      const t = tag & 7;
      if (id === 1) {
        if (t !== f.keyWireType) throw wrongWireType(plan, f, t, ' map key');
        key = f.keyKind === K_STRING ? readString() : String(readScalar(f.keyKind));
      } else if (id === 2) {
        if (t !== f.valueWireType) throw wrongWireType(plan, f, t, ' map value');
        if (kind === K_STRING) value = readString();
        else if (kind === K_MESSAGE) value = readMessage(f.sub!, value as Record<string, unknown> | undefined);
        else if (kind === K_TIME || kind === K_INTSTR) {
          readSpecial(f, !special);
          special = true;
        } else value = readScalar(kind);
      } else {
        skipField(t, id, 0);
      }
    }
    limit = saved;
    if (special) value = specialValue(kind) ?? null;
    else if (value === undefined) value = kind === K_MESSAGE ? new f.sub!.make() : defaultOf(kind);
    if (key === undefined) key = f.keyKind === K_STRING ? '' : '0';
    // The first character first: a string compare here would see keys of every kind (fresh and
    // internalized strings) and make V8 throw away this function's optimised code for it.
    if (key.charCodeAt(0) === 95 /* _ */ && key === '__proto__') Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
    else obj[key] = value;
  } while ((wt = nextIs(f.id)) >= 0);
  return obj !== prev ? obj : undefined;
}

function defaultOf(kind: number): unknown {
  switch (kind) {
    case K_STRING:
    case K_BYTES:
      return '';
    case K_BOOL:
      return false;
    case K_RAW:
      return EMPTY.subarray(0, 0);
    case K_INTSTR:
      return 0;
    default:
      return 0;
  }
}

/** An empty object for a message of `plan`, to fill (apiVersion, kind) before decodeInto. */
export function newObject(plan: TypePlan): Record<string, unknown> {
  return new plan.make();
}

/**
 * Decodes `bytes` as a message of `plan` into `out` (which may already hold fields, such as
 * apiVersion and kind; by default a new object of the plan's own making, see newObject). Throws Malformed or Invalid; on a throw, `out` must be dropped.
 */
export function decodeInto(plan: TypePlan, bytes: Uint8Array, out: Record<string, unknown> = new plan.make()): Record<string, unknown> {
  if (OUT_OF_LINE) [, , , , , , , , , , , , , , , ,] = OUT_OF_LINE; // never runs: see out-of-line.ts
  buf = asBuffer(bytes);
  pos = 0;
  limit = buf.length;
  try {
    plan.decode(out);
  } finally {
    // Do not keep the caller's buffer alive.
    buf = EMPTY;
  }
  return out;
}
