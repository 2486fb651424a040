// The single-pass protobuf decoder (src/sources/kubernetes/proto/decoder.ts) at the byte level:
// varints at their limits, packed and unpacked repeated numbers, merging of repeated and
// nested fields, maps, unknown fields of every wire type, and truncation at every byte (an
// error, never a partial object). A small test schema covers the scalar types Kubernetes'
// schemas do not use; the rest goes through the real schemas and the public codec.

import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { decodeObject, decodeWatchFrame, encodeObject, encodeWatchFrame, ProtocolError } from '../../../../src/sources/kubernetes/index.js';
import { compilePlan, decodeInto, Invalid, Malformed } from '../../../../src/sources/kubernetes/proto/decoder.js';
import { envelope } from './wire-bytes.js';

// ---- raw bytes ------------------------------------------------------------------------------

type Part = number[] | Uint8Array;

function varint(v: bigint | number): number[] {
  let x = BigInt.asUintN(64, BigInt(v));
  const out: number[] = [];
  do {
    const b = Number(x & 0x7fn);
    x >>= 7n;
    out.push(x > 0n ? b | 0x80 : b);
  } while (x > 0n);
  return out;
}

function cat(...parts: Part[]): Buffer {
  return Buffer.concat(parts.map((p) => Buffer.from(p instanceof Uint8Array ? p : Uint8Array.from(p))));
}

const tag = (id: number, wt: number): number[] => varint((id << 3) | wt);
const vint = (id: number, v: bigint | number): Buffer => cat(tag(id, 0), varint(v));
const len = (id: number, body: Part | string): Buffer => {
  const b = typeof body === 'string' ? Buffer.from(body, 'utf8') : cat(body);
  return cat(tag(id, 2), varint(b.length), b);
};
const fixed32 = (id: number, v: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return cat(tag(id, 5), b);
};
const fixed64 = (id: number, v: bigint): Buffer => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt.asUintN(64, v));
  return cat(tag(id, 1), b);
};

// ---- a test schema --------------------------------------------------------------------------

const TEST_PROTO = `
syntax = "proto2";
package t;
message Scalars {
  optional int32 i32 = 1;
  optional uint32 u32 = 2;
  optional sint32 s32 = 3;
  optional int64 i64 = 4;
  optional uint64 u64 = 5;
  optional sint64 s64 = 6;
  optional fixed32 f32 = 7;
  optional sfixed32 sf32 = 8;
  optional fixed64 f64 = 9;
  optional sfixed64 sf64 = 10;
  optional float fl = 11;
  optional double db = 12;
  optional bool b = 13;
  optional string s = 14;
  optional bytes by = 15;
  optional Scalars child = 16;
}
message Repeats {
  repeated int32 i32 = 1;
  repeated sint64 s64 = 2;
  repeated fixed32 f32 = 3;
  repeated bool b = 4;
  repeated double db = 5;
  repeated string s = 6;
  repeated Scalars m = 7;
  map<string, Scalars> byName = 8;
  map<int32, string> byNumber = 9;
  optional string far = 100;
}
`;
const testRoot = protobuf.parse(TEST_PROTO, { keepCase: true }).root;
testRoot.resolveAll();
const scalars = compilePlan(testRoot.lookupType('t.Scalars'), { 't.Scalars': ['s'] });
const repeats = compilePlan(testRoot.lookupType('t.Repeats'), {});

function dec(plan: typeof scalars, bytes: Uint8Array): Record<string, unknown> {
  // Plain-object view: what a test compares is the JSON shape.
  return { ...decodeInto(plan, bytes) };
}

function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('did not throw');
}

describe('varints', () => {
  it('reads every width up to 10 bytes, keeping the low 32 bits for 32-bit types', () => {
    expect(dec(scalars, vint(1, -1))).toEqual({ i32: -1 }); // int32 -1: ten bytes, sign-extended
    expect(varint(-1)).toHaveLength(10);
    expect(dec(scalars, vint(1, -2147483648))).toEqual({ i32: -2147483648 });
    expect(dec(scalars, vint(1, 2 ** 32 + 7))).toEqual({ i32: 7 });
    expect(dec(scalars, vint(2, 4294967295))).toEqual({ u32: 4294967295 });
    expect(dec(scalars, vint(3, 3))).toEqual({ s32: -2 }); // zigzag
    expect(dec(scalars, vint(3, 4294967295))).toEqual({ s32: -2147483648 });
    // A non-minimal encoding is still the same number.
    expect(dec(scalars, cat(tag(2, 0), [0x85, 0x80, 0x80, 0x00]))).toEqual({ u32: 5 });
  });

  it('reads 64-bit integers as numbers, beyond 2^53 as the nearest double', () => {
    expect(dec(scalars, vint(4, 2n ** 53n + 1n))).toEqual({ i64: 2 ** 53 });
    expect(dec(scalars, vint(4, -5))).toEqual({ i64: -5 });
    expect(dec(scalars, vint(4, -(2n ** 63n)))).toEqual({ i64: -(2 ** 63) });
    expect(dec(scalars, vint(4, 2n ** 63n - 1n))).toEqual({ i64: 2 ** 63 });
    expect(dec(scalars, vint(5, 2n ** 64n - 1n))).toEqual({ u64: 2 ** 64 });
    expect(dec(scalars, vint(5, 0x1_2345_6789n))).toEqual({ u64: 0x1_2345_6789 });
    expect(dec(scalars, vint(6, 9))).toEqual({ s64: -5 });
    expect(dec(scalars, vint(6, 2n ** 64n - 1n))).toEqual({ s64: -(2 ** 63) });
    expect(dec(scalars, vint(6, 2n ** 33n))).toEqual({ s64: 2 ** 32 });
  });

  it('reads a bool from all 64 bits', () => {
    expect(dec(scalars, vint(13, 1))).toEqual({ b: true });
    expect(dec(scalars, vint(13, 0))).toEqual({ b: false });
    expect(dec(scalars, vint(13, 2n ** 40n))).toEqual({ b: true });
  });

  it('refuses a varint over 10 bytes and one cut short', () => {
    const eleven = cat(tag(4, 0), [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
    expect(thrown(() => dec(scalars, eleven))).toBeInstanceOf(Malformed);
    expect(thrown(() => dec(scalars, eleven)).message).toMatch(/invalid varint encoding/);
    expect(thrown(() => dec(scalars, cat(tag(4, 0), [0x80, 0x80])))).toBeInstanceOf(Malformed);
    expect(thrown(() => dec(scalars, Uint8Array.of(0x80)))).toBeInstanceOf(Malformed); // the tag itself
  });
});

describe('other scalars', () => {
  it('reads fixed-width numbers, floats, strings and bytes', () => {
    const bytes = cat(
      fixed32(7, 0xffffffff),
      fixed32(8, -3),
      fixed64(9, 2n ** 40n + 1n),
      fixed64(10, -7n),
      cat(tag(11, 5), Buffer.from(new Float32Array([1.5]).buffer)),
      cat(tag(12, 1), Buffer.from(new Float64Array([-0.25]).buffer)),
      len(14, 'ü ✓'),
      len(15, [0, 1, 2, 250]),
    );
    expect(dec(scalars, bytes)).toEqual({ f32: 4294967295, sf32: -3, f64: 2 ** 40 + 1, sf64: -7, fl: 1.5, db: -0.25, s: 'ü ✓', by: 'AAEC+g==' });
  });

  it('decodes invalid UTF-8 as Buffer#toString does, and long strings', () => {
    expect(dec(scalars, len(14, [0x61, 0xff, 0x62]))).toEqual({ s: 'a\ufffdb' });
    const long = 'x'.repeat(1000) + 'é';
    expect(dec(scalars, len(14, long))).toEqual({ s: long });
  });

  it('gives each of many similar short strings its own value', () => {
    // Repeats and near-repeats, as a list of endpoints has them.
    const want: string[] = [];
    for (let i = 0; i < 5000; i++) want.push(`node-${i % 700}`, `10.0.${(i >> 8) & 255}.${i & 255}`, `zone-${i % 3}`, i % 2 ? 'TCP' : 'UDP', `é${i % 5}`);
    const got = dec(repeats, cat(...want.map((s) => len(6, s)))).s as string[];
    expect(got).toEqual(want);
  });

  it('reads strings of every length to 40, ASCII or not, whether the cache has them or not', () => {
    // Short ASCII strings are made by String.fromCharCode, one case per length, and enter the
    // cache on their second miss: by the third round those up to 32 bytes come from the cache.
    // Each round ends with a short string at the very end of the bytes.
    const want: string[] = [''];
    for (let n = 1; n <= 40; n++) {
      const ascii = Array.from({ length: n }, (_, i) => String.fromCharCode(0x21 + ((n * 7 + i) % 94))).join('');
      want.push(ascii, 'é' + ascii.slice(2), ascii.slice(0, -1) + '\u007f');
    }
    want.push('10.244.106.63');
    for (let round = 0; round < 3; round++) {
      const got = dec(repeats, cat(...want.map((s) => len(6, s)))).s as string[];
      expect(got).toEqual(want);
    }
  });

  it('tells apart short strings whose cache hashes are equal', () => {
    // The cache is direct-mapped by a 32-bit hash of the bytes; these two have the same hash,
    // so only comparing the characters tells them apart.
    const pair = ['n-ktzla', 'n-53apa'];
    const want = [...pair, ...pair, ...pair, ...pair];
    expect(dec(repeats, cat(...want.map((s) => len(6, s)))).s).toEqual(want);
    for (const s of want) expect(dec(repeats, len(6, s)).s).toEqual([s]);
  });

  it('reads strings out of a Uint8Array that is a view at an offset', () => {
    const bytes = cat(len(6, 'node-7'), len(6, '10.1.2.3'), len(6, 'x'.repeat(20)));
    const backing = new Uint8Array(bytes.length + 13);
    backing.set(bytes, 5);
    const view = new Uint8Array(backing.buffer, 5, bytes.length);
    expect(dec(repeats, view).s).toEqual(['node-7', '10.1.2.3', 'x'.repeat(20)]);
  });

  it('a later value of a singular field wins; a zero that is omitted removes the earlier one', () => {
    expect(dec(scalars, cat(vint(1, 5), vint(1, 6)))).toEqual({ i32: 6 });
    expect(dec(scalars, cat(len(14, 'a'), len(14, '')))).toEqual({}); // `s` omitted when empty
    expect(dec(scalars, cat(vint(1, 5), vint(1, 0)))).toEqual({ i32: 0 }); // not omitted: zero kept
  });
});

describe('repeated fields', () => {
  it('accepts repeated numbers packed, unpacked, and both mixed', () => {
    const packed = cat(
      len(1, [...varint(1), ...varint(-1), ...varint(300)]),
      len(2, [...varint(1), ...varint(2), ...varint(2n ** 64n - 1n)]),
      len(3, [1, 0, 0, 0, 255, 255, 255, 255]),
      len(4, [1, 0, 1]),
      len(5, Buffer.from(new Float64Array([0.5, -2]).buffer)),
    );
    const unpacked = cat(
      vint(1, 1),
      vint(1, -1),
      vint(1, 300),
      vint(2, 1),
      vint(2, 2),
      vint(2, 2n ** 64n - 1n),
      fixed32(3, 1),
      fixed32(3, 0xffffffff),
      vint(4, 1),
      vint(4, 0),
      vint(4, 1),
      cat(tag(5, 1), Buffer.from(new Float64Array([0.5]).buffer)),
      cat(tag(5, 1), Buffer.from(new Float64Array([-2]).buffer)),
    );
    const want = { i32: [1, -1, 300], s64: [-1, 1, -(2 ** 63)], f32: [1, 4294967295], b: [true, false, true], db: [0.5, -2] };
    expect(dec(repeats, packed)).toEqual(want);
    expect(dec(repeats, unpacked)).toEqual(want);
    expect(dec(repeats, cat(vint(1, 1), len(1, [...varint(-1)]), vint(1, 300)))).toEqual({ i32: [1, -1, 300] });
    // An empty packed run is no values: the field stays absent.
    expect(dec(repeats, len(1, []))).toEqual({});
  });

  it('appends occurrences that are not next to each other', () => {
    const bytes = cat(len(6, 'a'), len(6, 'b'), len(100, 'x'), len(6, 'c'), len(7, vint(1, 1)), len(6, 'd'), len(7, vint(1, 2)));
    expect(dec(repeats, bytes)).toEqual({ s: ['a', 'b', 'c', 'd'], far: 'x', m: [{ i32: 1 }, { i32: 2 }] });
  });

  it('refuses a repeated string sent as a varint, and a packed run of strings', () => {
    expect(thrown(() => dec(repeats, cat(len(6, 'a'), vint(6, 1))))).toBeInstanceOf(Invalid);
    expect(thrown(() => dec(repeats, cat(len(6, 'a'), vint(6, 1)))).message).toBe('t.Repeats.s (field 6) has wire type 0 (varint), expected 2 (length-delimited)');
    expect(thrown(() => dec(repeats, fixed32(1, 1))).message).toBe('t.Repeats.i32 (field 1) has wire type 5 (32-bit), expected 0 (varint)');
  });
});

describe('nested messages', () => {
  it('decodes nested messages and merges a message field sent twice', () => {
    const child = (...parts: Buffer[]): Buffer => len(16, cat(...parts));
    expect(dec(scalars, cat(child(vint(1, 1), child(len(14, 'deep'))), vint(2, 9)))).toEqual({ child: { i32: 1, child: { s: 'deep' } }, u32: 9 });
    expect(dec(scalars, cat(child(vint(1, 1), vint(2, 2)), child(vint(2, 3), vint(3, 1))))).toEqual({ child: { i32: 1, u32: 3, s32: -1 } });
    expect(dec(scalars, child())).toEqual({ child: {} });
  });

  it('refuses a nested length that runs past its parent', () => {
    const bytes = cat(tag(16, 2), [3], tag(14, 2), [5], Buffer.from('abcdefgh'));
    expect(thrown(() => dec(scalars, bytes))).toBeInstanceOf(Malformed);
    expect(thrown(() => dec(scalars, bytes)).message).toMatch(/index out of range/);
  });
});

describe('maps', () => {
  const entry = (k: Part | null, v: Part | null, extra: Buffer[] = []): Buffer =>
    cat(...(k ? [cat(k)] : []), ...extra, ...(v ? [cat(v)] : []));

  it('builds plain objects: entries in order, a later key wins, missing key or value is the zero value', () => {
    const labels = (k: string, v: string): Buffer => len(11, entry(len(1, k), len(2, v)));
    const meta = cat(len(1, 'n'), labels('app', 'web'), labels('tier', 'front'), labels('app', 'api'), len(11, entry(len(1, 'empty'), null)), len(11, entry(null, len(2, 'no key'))));
    const obj = decodeObject(envelope('v1', 'Node', len(1, meta)));
    expect(obj).toEqual({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'n', labels: { app: 'api', tier: 'front', empty: '', '': 'no key' } } });
    expect(Object.getPrototypeOf((obj.metadata as { labels: object }).labels)).toBe(Object.prototype);
  });

  it('keeps a "__proto__" key as an own property', () => {
    const obj = decodeObject(envelope('v1', 'Node', len(1, len(11, entry(len(1, '__proto__'), len(2, 'x'))))));
    const labels = (obj.metadata as { labels: Record<string, unknown> }).labels;
    expect(Object.keys(labels)).toEqual(['__proto__']);
    expect(Object.getPrototypeOf(labels)).toBe(Object.prototype);
    expect(JSON.stringify(labels)).toBe('{"__proto__":"x"}');
  });

  it('skips unknown fields inside an entry and refuses a key or value of the wrong wire type', () => {
    expect(dec(repeats, len(9, entry(vint(1, 7), len(2, 'seven'), [vint(3, 1), len(4, 'x')])))).toEqual({ byNumber: { 7: 'seven' } });
    expect(dec(repeats, len(8, entry(len(1, 'a'), len(2, vint(1, 5)))))).toEqual({ byName: { a: { i32: 5 } } });
    expect(dec(repeats, len(8, entry(len(1, 'a'), null)))).toEqual({ byName: { a: {} } });
    expect(thrown(() => dec(repeats, len(9, entry(len(1, 'x'), len(2, 'y'))))).message).toBe(
      't.Repeats.byNumber (field 9) map key has wire type 2 (length-delimited), expected 0 (varint)',
    );
    expect(thrown(() => dec(repeats, len(8, entry(len(1, 'a'), vint(2, 1))))).message).toMatch(/byName \(field 8\) map value has wire type 0/);
    expect(thrown(() => dec(repeats, vint(8, 1))).message).toMatch(/byName \(field 8\) has wire type 0 \(varint\), expected 2/);
  });
});

describe('unknown fields', () => {
  const group = (id: number, ...inner: Buffer[]): Buffer => cat(tag(id, 3), ...inner, tag(id, 4));

  it('skips every wire type, groups nested in groups included', () => {
    const unknowns = cat(
      vint(50, 2n ** 64n - 1n),
      fixed64(51, 1n),
      len(52, 'skip me'),
      fixed32(53, 1),
      group(54, vint(1, 1), len(2, 'x'), group(3, fixed32(1, 2), group(4)), fixed64(5, 3n)),
      len(1000, 'high field number'),
    );
    expect(dec(scalars, cat(unknowns, vint(1, 5), unknowns))).toEqual({ i32: 5 });
    // Through the Kubernetes schemas, at every level.
    const svc = cat(len(1, cat(len(1, 'web'), unknowns)), unknowns, len(2, cat(unknowns, len(3, '10.0.0.1'))));
    expect(decodeObject(envelope('v1', 'Service', svc))).toEqual({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web' }, spec: { clusterIP: '10.0.0.1' } });
  });

  it('refuses invalid wire types, a stray or mismatched end-group, field number 0, deep groups', () => {
    for (const [bytes, msg] of [
      [Uint8Array.of(0x0e), /t\.Scalars\.i32 \(field 1\) has wire type 6 \(invalid \(6\)\)/], // a known field: its wire type is checked first
      [cat(tag(60, 6)), /invalid wire type 6/],
      [cat(tag(60, 7)), /invalid wire type 7/],
      [cat(tag(60, 4)), /invalid wire type 4/],
      [cat(tag(60, 3), tag(61, 4)), /invalid end group tag/],
      [cat(tag(60, 3), vint(1, 1)), /index out of range/],
      [cat(tag(0, 0), [1]), /illegal tag: field number 0/],
      [cat(tag(60, 3), tag(0, 0), [1], tag(60, 4)), /illegal tag: field number 0/],
      [cat(...Array.from({ length: 150 }, () => tag(60, 3)), ...Array.from({ length: 150 }, () => tag(60, 4))), /max depth exceeded/],
    ] as const) {
      const err = thrown(() => dec(scalars, bytes));
      expect(err.message, String(msg)).toMatch(msg);
    }
  });

  it('a known field of the wrong wire type is an error, inside Time and IntOrString too', () => {
    const time = cat(len(1, cat(len(1, 'n'), len(8, len(1, 'not a number')))));
    expect(() => decodeObject(envelope('v1', 'Node', time))).toThrow(/object \(Node\): k8s\.io\.apimachinery\.pkg\.apis\.meta\.v1\.Time\.seconds \(field 1\) has wire type 2/);
    const port = cat(len(2, len(1, cat(vint(3, 80), len(4, cat(vint(1, 1), vint(3, 5)))))));
    expect(() => decodeObject(envelope('v1', 'Service', port))).toThrow(/IntOrString\.strVal \(field 3\) has wire type 0 \(varint\), expected 2/);
  });
});

describe('Time and IntOrString', () => {
  const node = (...meta: Buffer[]): Record<string, unknown> => decodeObject(envelope('v1', 'Node', len(1, cat(...meta))));
  const ts = (...parts: Buffer[]): Buffer => len(8, cat(...parts));

  it('formats times as the JSON path has them, Go zero time absent', () => {
    expect(node(ts(vint(1, 0)))).toMatchObject({ metadata: { creationTimestamp: '1970-01-01T00:00:00Z' } });
    expect(node(ts(vint(1, 1709294400), vint(2, 999999999)))).toMatchObject({ metadata: { creationTimestamp: '2024-03-01T12:00:00Z' } });
    expect(node(ts(vint(1, -62135596800)))).toEqual({ apiVersion: 'v1', kind: 'Node', metadata: {} });
    expect(node(ts(vint(1, -62135596800), vint(2, 1)))).toMatchObject({ metadata: { creationTimestamp: '0001-01-01T00:00:00Z' } });
    expect(node(ts())).toMatchObject({ metadata: { creationTimestamp: '1970-01-01T00:00:00Z' } });
    for (const s of [-1, 951782400, 951868799, 4107542399, 253402300799, -62135596799, 1e10, -1e11, 86400 * 365 * 3000]) {
      expect(node(ts(vint(1, s))), String(s)).toMatchObject({ metadata: { creationTimestamp: new Date(s * 1000).toISOString().slice(0, 19) + 'Z' } });
    }
    expect(() => node(ts(vint(1, 2n ** 60n)))).toThrow(/object \(Node\): Invalid time value/);
  });

  it('merges a Time or IntOrString sent twice, as protobuf merges messages', () => {
    // seconds from the first, nanos from the second: the Go zero time with nanos is not zero.
    expect(node(ts(vint(1, -62135596800)), ts(vint(2, 5)))).toMatchObject({ metadata: { creationTimestamp: '0001-01-01T00:00:00Z' } });
    expect(node(ts(vint(1, 0)), len(1, 'n'), ts(vint(1, -62135596800)))).toEqual({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'n' } });
    const port = (...targets: Buffer[]): unknown =>
      (decodeObject(envelope('v1', 'Service', len(2, len(1, cat(vint(3, 80), ...targets))))) as { spec: { ports: Array<{ targetPort: unknown }> } }).spec.ports[0]!.targetPort;
    expect(port(len(4, cat(vint(1, 1), len(3, 'web'))), len(4, vint(2, 8080)))).toBe('web');
    expect(port(len(4, cat(vint(1, 1), len(3, 'web'))), len(4, vint(1, 0)))).toBe(0);
    expect(port(len(4, vint(2, 8080)), len(4, len(3, 'x')))).toBe(8080);
    expect(port(len(4, cat()))).toBe(0);
  });
});

describe('truncation', () => {
  const service = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'web', namespace: 'prod', uid: 'u-1', resourceVersion: '7', generation: 3, creationTimestamp: '2024-05-06T07:08:09Z', labels: { app: 'web', 'ü': '✓' } },
    spec: {
      type: 'ClusterIP',
      clusterIP: '10.96.0.10',
      clusterIPs: ['10.96.0.10'],
      ports: [
        { name: 'http', protocol: 'TCP', port: 80, targetPort: 'web' },
        { name: 'dns', protocol: 'UDP', port: 53, targetPort: 5353 },
      ],
      selector: { app: 'web' },
    },
    status: { loadBalancer: { ingress: [{ ip: '203.0.113.5' }] } },
  };

  it('every prefix of an enveloped object is an error or (cut after the payload) the whole object', () => {
    const full = encodeObject(service);
    const whole = decodeObject(full);
    expect(whole).toEqual(service);
    let errors = 0;
    for (let n = 0; n < full.length; n++) {
      let got: unknown;
      try {
        got = decodeObject(full.subarray(0, n));
      } catch (err) {
        expect(err, `cut at ${n}`).toBeInstanceOf(ProtocolError);
        errors++;
        continue;
      }
      // Only the envelope's trailing (empty) contentEncoding/contentType may be cut cleanly.
      expect(n, `cut at ${n} decoded`).toBeGreaterThan(full.length - 5);
      expect(got).toEqual(whole);
    }
    expect(errors).toBeGreaterThan(full.length - 5);
    // Cut right after its TypeMeta, an envelope has no payload at all: not an empty Service.
    const typeMetaEnd = 4 + 2 + full[5]!;
    expect(() => decodeObject(full.subarray(0, typeMetaEnd))).toThrow(/bad envelope \(runtime\.Unknown\): no raw \(payload\) field/);
  });

  it('every prefix of a watch frame is an error or the whole event', () => {
    const frame = encodeWatchFrame({ type: 'MODIFIED', object: service }).subarray(4);
    for (let n = 0; n < frame.length; n++) {
      let got: unknown;
      try {
        got = decodeWatchFrame(frame.subarray(0, n));
      } catch (err) {
        expect(err, `cut at ${n}`).toBeInstanceOf(ProtocolError);
        continue;
      }
      expect(got, `cut at ${n}`).toEqual({ type: 'MODIFIED', object: service });
    }
  });
});
