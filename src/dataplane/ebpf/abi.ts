// Codec for every struct shared with the eBPF datapath (bpf/include/ekp_abi.h).
//
// Byte order is explicit: addresses and ports are network order (as in the packet),
// everything else is host (little-endian on every platform we load BPF on). Sizes and
// field offsets are named constants; test/bpf/abi.test.ts checks each one against the
// BTF of the compiled objects, so the two sides cannot drift.

import { isIPv4, isIPv6 } from 'node:net';

export const ABI_VERSION = 3;

/** Pinned map names (layout version in the suffix). */
export const MAP = {
  svc: 'ekp_svc_v1',
  backend: 'ekp_backend_v1',
  slots: 'ekp_slots_v2',
  /** IPv6 flows; IPv4 flows are in ct4 (see ctMapOf). */
  ct: 'ekp_ct_v2',
  ct4: 'ekp_ct4_v2',
  affinity: 'ekp_affinity_v1',
  srcRange: 'ekp_srcrange_v1',
  sock: 'ekp_sock_v1',
  drop: 'ekp_drop_v1',
  event: 'ekp_event_v1',
  svcStat: 'ekp_svcstat_v1',
  vip: 'ekp_vip_v1',
  vipNet: 'ekp_vipnet_v1',
  svcCidr: 'ekp_svccidr_v1',
  extVip: 'ekp_extvip_v1',
  /** The FIB's answer tc last used per backend id (written by tc only; as many entries as backend). */
  backendNh: 'ekp_benh_v1',
  /** A fragmented UDP datagram's ports, for its later fragments (written and read by tc only). */
  frag: 'ekp_frag_v1',
} as const;
export type MapName = (typeof MAP)[keyof typeof MAP];

/** Default max_entries compiled into the objects (override with setMaxEntries). */
export const MAP_DEFAULT_SIZE: Readonly<Record<MapName, number>> = {
  ekp_svc_v1: 65536,
  ekp_backend_v1: 65536,
  /** Entries of two slots each (SLOTS_PER_ENTRY). */
  ekp_slots_v2: 524288,
  ekp_ct_v2: 262144,
  ekp_ct4_v2: 262144,
  ekp_affinity_v1: 65536,
  ekp_srcrange_v1: 16384,
  ekp_sock_v1: 65536,
  ekp_drop_v1: 16,
  ekp_event_v1: 32,
  ekp_svcstat_v1: 65536,
  ekp_vip_v1: 65536,
  ekp_vipnet_v1: 1,
  ekp_svccidr_v1: 64,
  ekp_extvip_v1: 65536,
  ekp_benh_v1: 65536,
  ekp_frag_v1: 8192,
};

/** The const volatile global holding struct ekp_config in every object. */
export const CONFIG_GLOBAL = 'ekp_cfg';

export const FAMILY_V4 = 4;
export const FAMILY_V6 = 6;
export type Family = 4 | 6;

export const PROTO = { tcp: 6, udp: 17, sctp: 132 } as const;
export type ProtoName = keyof typeof PROTO;

export const SCOPE_EXT = 0;
export const SCOPE_INT = 1;

export const SVC_F = {
  AFFINITY: 1 << 0,
  MAGLEV: 1 << 1,
  PRESERVE_SRC: 1 << 2,
  TWO_SCOPES: 1 << 3,
  SRC_RANGES: 1 << 4,
  DROP_EMPTY: 1 << 5,
  NODEPORT: 1 << 6,
  EXTERNAL: 1 << 7,
  NODE_ADDR: 1 << 8,
  LOCAL_SET: 1 << 9,
} as const;

export const BE_F = { LOCAL: 1 << 0, TERMINATING: 1 << 1 } as const;

export const CT_TYPE = { FWD: 1, REV: 2 } as const;
export const CT_STATE = { NEW: 0, SYN: 1, ESTABLISHED: 2, CLOSING: 3 } as const;
export const CT_F = { SNAT: 1 << 0, HAIRPIN: 1 << 1, EXTERNAL: 1 << 2, NODE_FRONTEND: 1 << 3, RESET: 1 << 4 } as const;

export const CFG_F = {
  FROM_PODS: 1 << 0,
  FROM_HOST: 1 << 1,
  REJECT_ICMP_TCP: 1 << 3,
  KERN_CTX: 1 << 5,
} as const;

export const CT_TIMEOUT_DEFAULT_S = { syn: 60, established: 21600, closing: 10, udp: 60, other: 60 } as const;
export const SNAT_PORT_DEFAULT = { min: 61000, max: 65000 } as const;
export const SRCRANGE_PREFIX_BASE = 64;
export const SVCCIDR_PREFIX_BASE = 32;

/** enum ekp_drop_reason, index into ekp_drop_v1. */
export const DROP_REASONS = [
  'unspec', 'invalid_l3', 'invalid_l4', 'src_range', 'no_local_backend', 'no_backend',
  'backend_missing', 'snat_no_port', 'ct_insert', 'rewrite', 'reject', 'floor', 'unallocated', 'frag_no_flow',
] as const;
export type DropReason = (typeof DROP_REASONS)[number];
export const DROP: Readonly<Record<DropReason, number>> = Object.fromEntries(DROP_REASONS.map((n, i) => [n, i])) as Record<DropReason, number>;
export const DROP_MAX = 16;

/** enum ekp_event, index into ekp_event_v1. */
export const EVENTS = [
  'unspec', 'ct_created', 'ct_insert_fail', 'ct_expired_reuse', 'ct_hit_fwd', 'ct_hit_rev',
  'affinity_hit', 'reject_tcp_rst', 'reject_icmp', 'pass_fragment', 'pass_ip_options',
  'pass_ipv6_exthdr', 'snat_retry', 'sock_xlate', 'redirect', 'xdp_to_stack', 'icmp_err_xlate',
  'pass_icmp_err', 'egress_done', 'ct_stale_rev', 'vip_no_port', 'echo_reply',
  'ttl_exceeded', 'frag_needed', 'sender_answered', 'frag_followed', 'frag_unknown',
] as const;
export type EventName = (typeof EVENTS)[number];
export const EVENT: Readonly<Record<EventName, number>> = Object.fromEntries(EVENTS.map((n, i) => [n, i])) as Record<EventName, number>;
export const EVENT_MAX = 32;

// ---- layouts ------------------------------------------------------------------------

export interface FieldLayout {
  readonly offset: number;
  readonly size: number;
}
export interface StructLayout {
  readonly size: number;
  readonly fields: Readonly<Record<string, FieldLayout>>;
}

const f = (offset: number, size: number): FieldLayout => ({ offset, size });

/** Every struct of ekp_abi.h; field names are the C names. */
export const LAYOUT = {
  ekp_addr: { size: 16, fields: { v4: f(0, 4), v6: f(0, 16), bytes: f(0, 16) } },
  ekp_svc_key: { size: 24, fields: { addr: f(0, 16), port: f(16, 2), proto: f(18, 1), family: f(19, 1), scope: f(20, 1), pad: f(21, 3) } },
  ekp_svc_val: { size: 24, fields: { svc_id: f(0, 4), slot_off: f(4, 4), slot_len: f(8, 4), affinity_timeout_s: f(12, 4), flags: f(16, 4), reserved: f(20, 4) } },
  ekp_slot_pair: { size: 8, fields: { id: f(0, 8) } },
  ekp_backend_val: { size: 24, fields: { addr: f(0, 16), port: f(16, 2), family: f(18, 1), flags: f(19, 1), reserved: f(20, 4) } },
  ekp_backend_nh: {
    size: 56,
    fields: {
      seq: f(0, 4), oif: f(4, 4), iif: f(8, 4), epoch: f(12, 4), family: f(16, 1), proto: f(17, 1), mtu: f(18, 2), dst_family: f(20, 1), pad: f(21, 3),
      nh: f(24, 16), dst: f(40, 16),
    },
  },
  ekp_ct_key: { size: 40, fields: { saddr: f(0, 16), daddr: f(16, 16), sport: f(32, 2), dport: f(34, 2), proto: f(36, 1), family: f(37, 1), pad: f(38, 2) } },
  ekp_ct4_key: { size: 16, fields: { saddr: f(0, 4), daddr: f(4, 4), sport: f(8, 2), dport: f(10, 2), proto: f(12, 1), pad: f(13, 3) } },
  ekp_ct_val: {
    size: 88,
    fields: {
      expires_ns: f(0, 8), addr: f(8, 16), addr2: f(24, 16), port: f(40, 2), port2: f(42, 2), svc_id: f(44, 4),
      backend_id: f(48, 4), type: f(52, 1), state: f(53, 1), flags: f(54, 1), tcp_flags_seen: f(55, 1),
      nh_oif: f(56, 4), nh_iif: f(60, 4), nh_epoch: f(64, 4), nh_family: f(68, 1), nh_pad: f(69, 1), nh_mtu: f(70, 2), nh: f(72, 16),
    },
  },
  ekp_frag_key: { size: 40, fields: { saddr: f(0, 16), daddr: f(16, 16), id: f(32, 4), proto: f(36, 1), family: f(37, 1), pad: f(38, 2) } },
  ekp_frag_val: { size: 4, fields: { sport: f(0, 2), dport: f(2, 2) } },
  ekp_affinity_key: { size: 24, fields: { svc_id: f(0, 4), family: f(4, 1), local_set: f(5, 1), pad: f(6, 2), client: f(8, 16) } },
  ekp_affinity_val: { size: 16, fields: { last_used_ns: f(0, 8), backend_id: f(8, 4), pad: f(12, 4) } },
  ekp_vip_key: { size: 20, fields: { addr: f(0, 16), family: f(16, 1), pad: f(17, 3) } },
  ekp_vip_val: { size: 4, fields: { service_ports: f(0, 4) } },
  ekp_vipnet: { size: 68, fields: { v4_net: f(0, 16), v4_mask: f(16, 16), v6_net: f(32, 16), v6_mask: f(48, 16), v4_on: f(64, 1), v6_on: f(65, 1), pad: f(66, 2) } },
  ekp_svccidr_key: { size: 24, fields: { prefixlen: f(0, 4), family: f(4, 1), pad: f(5, 3), addr: f(8, 16) } },
  ekp_svccidr_val: { size: 4, fields: { unused: f(0, 4) } },
  ekp_srcrange_key: { size: 28, fields: { prefixlen: f(0, 4), svc_id: f(4, 4), family: f(8, 1), pad: f(9, 3), addr: f(12, 16) } },
  ekp_srcrange_val: { size: 4, fields: { allow: f(0, 4) } },
  ekp_sock_key: { size: 32, fields: { cookie: f(0, 8), addr: f(8, 16), port: f(24, 2), family: f(26, 1), pad: f(27, 5) } },
  ekp_sock_val: { size: 24, fields: { addr: f(0, 16), port: f(16, 2), pad: f(18, 2), svc_id: f(20, 4) } },
  ekp_counter: { size: 16, fields: { packets: f(0, 8), bytes: f(8, 8) } },
  ekp_gc_result: { size: 16, fields: { entries: f(0, 4), deleted: f(4, 4), flows: f(8, 4), pad: f(12, 4) } },
  ekp_config: {
    size: 96,
    fields: {
      abi_version: f(0, 4), flags: f(4, 4), snat_v4: f(8, 16), snat_v6: f(24, 16), hairpin_v4: f(40, 16), hairpin_v6: f(56, 16),
      snat_port_min: f(72, 2), snat_port_max: f(74, 2), ct_timeout_syn_s: f(76, 4), ct_timeout_established_s: f(80, 4),
      ct_timeout_closing_s: f(84, 4), ct_timeout_udp_s: f(88, 4), ct_timeout_other_s: f(92, 4),
    },
  },
} as const satisfies Record<string, StructLayout>;
export type StructName = keyof typeof LAYOUT;

export const SIZE = Object.fromEntries(Object.entries(LAYOUT).map(([k, v]) => [k, v.size])) as Readonly<Record<StructName, number>>;

const O = {
  svcKey: LAYOUT.ekp_svc_key.fields,
  svcVal: LAYOUT.ekp_svc_val.fields,
  be: LAYOUT.ekp_backend_val.fields,
  ctKey: LAYOUT.ekp_ct_key.fields,
  ct4Key: LAYOUT.ekp_ct4_key.fields,
  ctVal: LAYOUT.ekp_ct_val.fields,
  affKey: LAYOUT.ekp_affinity_key.fields,
  affVal: LAYOUT.ekp_affinity_val.fields,
  srKey: LAYOUT.ekp_srcrange_key.fields,
  vipKey: LAYOUT.ekp_vip_key.fields,
  vipNet: LAYOUT.ekp_vipnet.fields,
  svcCidrKey: LAYOUT.ekp_svccidr_key.fields,
  sockKey: LAYOUT.ekp_sock_key.fields,
  sockVal: LAYOUT.ekp_sock_val.fields,
  cfg: LAYOUT.ekp_config.fields,
};

// ---- addresses ----------------------------------------------------------------------

export function familyOf(addr: string): Family {
  if (isIPv4(addr)) return 4;
  if (isIPv6(addr)) return 6;
  throw new TypeError(`not an IP address: ${JSON.stringify(addr)}`);
}

/** 16 bytes in network order; IPv4 in the first 4, the rest zero (union ekp_addr). */
export function encodeAddr(addr: string): Buffer {
  const out = Buffer.alloc(16);
  if (isIPv4(addr)) {
    addr.split('.').forEach((o, i) => { out[i] = Number(o); });
    return out;
  }
  if (!isIPv6(addr)) throw new TypeError(`not an IP address: ${JSON.stringify(addr)}`);
  let text = addr.split('%')[0]!;
  const groups: number[] = [];
  const v4tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4tail) {
    const b = v4tail[1]!.split('.').map(Number);
    text = text.slice(0, -v4tail[1]!.length) + `${((b[0]! << 8) | b[1]!).toString(16)}:${((b[2]! << 8) | b[3]!).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') as [string, string] : [text, undefined];
  const h = head ? head.split(':').map((g) => parseInt(g, 16)) : [];
  const t = tail ? tail.split(':').map((g) => parseInt(g, 16)) : [];
  groups.push(...h, ...new Array(8 - h.length - t.length).fill(0), ...t);
  groups.forEach((g, i) => out.writeUInt16BE(g, i * 2));
  return out;
}

export function decodeAddr(buf: Buffer, family: Family, offset = 0): string {
  if (family === 4) return `${buf[offset]}.${buf[offset + 1]}.${buf[offset + 2]}.${buf[offset + 3]}`;
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push(buf.readUInt16BE(offset + i * 2));
  // RFC 5952: compress the longest run (>= 2) of zero groups, first one on a tie.
  let best = -1, bestLen = 1;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) { best = i; bestLen = j - i; }
    i = j;
  }
  const hex = g.map((x) => x.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

function protoNumber(p: ProtoName | number): number {
  return typeof p === 'number' ? p : PROTO[p];
}

function writeAddr(buf: Buffer, offset: number, addr: string): Family {
  // IPv4 straight into the buffer: this runs for every backend of a sync.
  let octet = 0;
  let n = 0;
  let digits = 0;
  let ok = addr.length >= 7 && addr.length <= 15;
  for (let i = 0; ok && i <= addr.length; i++) {
    const c = i < addr.length ? addr.charCodeAt(i) : 46;
    if (c === 46) {
      ok = digits > 0 && n <= 255 && octet < 4;
      if (ok) buf[offset + octet++] = n;
      n = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57 && digits < 3) {
      n = n * 10 + c - 48;
      digits++;
    } else {
      ok = false;
    }
  }
  if (ok && octet === 4) {
    buf.fill(0, offset + 4, offset + 16);
    return 4;
  }
  encodeAddr(addr).copy(buf, offset);
  return familyOf(addr);
}

// ---- services -----------------------------------------------------------------------

export interface SvcKey {
  addr: string;
  port: number;
  proto: ProtoName | number;
  /** 'external' (EKP_SCOPE_EXT, the default) or 'internal'. */
  scope?: 'external' | 'internal';
}

export function encodeSvcKey(k: SvcKey): Buffer {
  const b = Buffer.alloc(SIZE.ekp_svc_key);
  const fam = writeAddr(b, O.svcKey.addr.offset, k.addr);
  b.writeUInt16BE(k.port, O.svcKey.port.offset);
  b.writeUInt8(protoNumber(k.proto), O.svcKey.proto.offset);
  b.writeUInt8(fam, O.svcKey.family.offset);
  b.writeUInt8(k.scope === 'internal' ? SCOPE_INT : SCOPE_EXT, O.svcKey.scope.offset);
  return b;
}

export function decodeSvcKey(b: Buffer): Required<SvcKey> & { proto: number } {
  const fam = b.readUInt8(O.svcKey.family.offset) as Family;
  return {
    addr: decodeAddr(b, fam, O.svcKey.addr.offset),
    port: b.readUInt16BE(O.svcKey.port.offset),
    proto: b.readUInt8(O.svcKey.proto.offset),
    scope: b.readUInt8(O.svcKey.scope.offset) === SCOPE_INT ? 'internal' : 'external',
  };
}

export interface SvcVal {
  svcId: number;
  slotOff: number;
  slotLen: number;
  affinityTimeoutS?: number;
  flags?: number;
}

export function encodeSvcVal(v: SvcVal): Buffer {
  const b = Buffer.alloc(SIZE.ekp_svc_val);
  b.writeUInt32LE(v.svcId, O.svcVal.svc_id.offset);
  b.writeUInt32LE(v.slotOff, O.svcVal.slot_off.offset);
  b.writeUInt32LE(v.slotLen, O.svcVal.slot_len.offset);
  b.writeUInt32LE(v.affinityTimeoutS ?? 0, O.svcVal.affinity_timeout_s.offset);
  b.writeUInt32LE(v.flags ?? 0, O.svcVal.flags.offset);
  return b;
}

export function decodeSvcVal(b: Buffer): Required<SvcVal> {
  return {
    svcId: b.readUInt32LE(O.svcVal.svc_id.offset),
    slotOff: b.readUInt32LE(O.svcVal.slot_off.offset),
    slotLen: b.readUInt32LE(O.svcVal.slot_len.offset),
    affinityTimeoutS: b.readUInt32LE(O.svcVal.affinity_timeout_s.offset),
    flags: b.readUInt32LE(O.svcVal.flags.offset),
  };
}

// ---- slots and backends --------------------------------------------------------------

export function encodeU32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
}

export function decodeU32(b: Buffer): number {
  return b.readUInt32LE(0);
}

/** Slots per ekp_slots_v2 entry (struct ekp_slot_pair): slot i is half i % 2 of entry i / 2. */
export const SLOTS_PER_ENTRY = 2;

/** Entries of ekp_slots_v2 that hold `slots` slots. */
export function slotEntries(slots: number): number {
  return Math.ceil(slots / SLOTS_PER_ENTRY);
}

/**
 * Keys and values for an updateBatch of ekp_slots_v2 covering [offset, offset+ids.length),
 * offset even; the last entry of an odd-length region is padded with id 0.
 */
export function encodeSlotRegion(offset: number, ids: readonly number[]): { keys: Buffer; values: Buffer } {
  const n = slotEntries(ids.length);
  const keys = Buffer.allocUnsafe(n * 4);
  const values = Buffer.alloc(n * SIZE.ekp_slot_pair);
  writeSlotRegion(keys, values, 0, offset, ids);
  return { keys, values };
}

/** Encodes a region at entry `at` of batch buffers (a whole sync's regions in one batch). Returns its entry count. */
export function writeSlotRegion(keys: Buffer, values: Buffer, at: number, offset: number, ids: readonly number[]): number {
  if (offset % SLOTS_PER_ENTRY) throw new RangeError(`slot region at ${offset}: regions start at an even slot`);
  const first = offset / SLOTS_PER_ENTRY;
  const n = slotEntries(ids.length);
  for (let i = 0; i < n; i++) keys.writeUInt32LE(first + i, (at + i) * 4);
  for (let j = 0; j < ids.length; j++) values.writeUInt32LE(ids[j]!, at * SIZE.ekp_slot_pair + j * 4);
  if (ids.length % SLOTS_PER_ENTRY) values.writeUInt32LE(0, at * SIZE.ekp_slot_pair + ids.length * 4);
  return n;
}

export interface BackendVal {
  addr: string;
  port: number;
  flags?: number;
}

export function encodeBackendVal(v: BackendVal): Buffer {
  const b = Buffer.alloc(SIZE.ekp_backend_val);
  writeBackendVal(b, 0, v);
  return b;
}

/** Encodes into `buf` at `offset` (a batch buffer): no allocation per backend. */
export function writeBackendVal(buf: Buffer, offset: number, v: BackendVal): void {
  const fam = writeAddr(buf, offset + O.be.addr.offset, v.addr);
  buf.writeUInt16BE(v.port, offset + O.be.port.offset);
  buf.writeUInt8(fam, offset + O.be.family.offset);
  buf.writeUInt8(v.flags ?? 0, offset + O.be.flags.offset);
  buf.writeUInt32LE(0, offset + O.be.reserved.offset);
}

/** A freed backend id is all zero. */
export const FREE_BACKEND: Buffer = Buffer.alloc(LAYOUT.ekp_backend_val.size);

export function decodeBackendVal(b: Buffer): Required<BackendVal> | null {
  const fam = b.readUInt8(O.be.family.offset);
  if (fam === 0) return null;
  return {
    addr: decodeAddr(b, fam as Family, O.be.addr.offset),
    port: b.readUInt16BE(O.be.port.offset),
    flags: b.readUInt8(O.be.flags.offset),
  };
}

// ---- conntrack ----------------------------------------------------------------------

export interface CtKey {
  saddr: string;
  daddr: string;
  sport: number;
  dport: number;
  proto: ProtoName | number;
}

/** The conntrack map of a family: IPv4 flows have their own map with a short key. */
export function ctMapOf(family: Family): typeof MAP.ct4 | typeof MAP.ct {
  return family === 4 ? MAP.ct4 : MAP.ct;
}

/** The key of a flow in the map of its family (ctMapOf): ekp_ct4_key for IPv4, else ekp_ct_key. */
export function encodeCtKey(k: CtKey): Buffer {
  const full = Buffer.alloc(SIZE.ekp_ct_key);
  const fam = writeAddr(full, O.ctKey.saddr.offset, k.saddr);
  if (writeAddr(full, O.ctKey.daddr.offset, k.daddr) !== fam) throw new TypeError('ct key: mixed address families');
  if (fam === 4) {
    const b = Buffer.alloc(SIZE.ekp_ct4_key);
    full.copy(b, O.ct4Key.saddr.offset, O.ctKey.saddr.offset, O.ctKey.saddr.offset + 4);
    full.copy(b, O.ct4Key.daddr.offset, O.ctKey.daddr.offset, O.ctKey.daddr.offset + 4);
    b.writeUInt16BE(k.sport, O.ct4Key.sport.offset);
    b.writeUInt16BE(k.dport, O.ct4Key.dport.offset);
    b.writeUInt8(protoNumber(k.proto), O.ct4Key.proto.offset);
    return b;
  }
  full.writeUInt16BE(k.sport, O.ctKey.sport.offset);
  full.writeUInt16BE(k.dport, O.ctKey.dport.offset);
  full.writeUInt8(protoNumber(k.proto), O.ctKey.proto.offset);
  full.writeUInt8(fam, O.ctKey.family.offset);
  return full;
}

/** Either key layout, told apart by its size. */
export function decodeCtKey(b: Buffer): CtKey & { proto: number; family: Family } {
  if (b.length === SIZE.ekp_ct4_key) {
    return {
      saddr: decodeAddr(b, 4, O.ct4Key.saddr.offset),
      daddr: decodeAddr(b, 4, O.ct4Key.daddr.offset),
      sport: b.readUInt16BE(O.ct4Key.sport.offset),
      dport: b.readUInt16BE(O.ct4Key.dport.offset),
      proto: b.readUInt8(O.ct4Key.proto.offset),
      family: 4,
    };
  }
  const fam = b.readUInt8(O.ctKey.family.offset) as Family;
  return {
    saddr: decodeAddr(b, fam, O.ctKey.saddr.offset),
    daddr: decodeAddr(b, fam, O.ctKey.daddr.offset),
    sport: b.readUInt16BE(O.ctKey.sport.offset),
    dport: b.readUInt16BE(O.ctKey.dport.offset),
    proto: b.readUInt8(O.ctKey.proto.offset),
    family: fam,
  };
}

export interface CtVal {
  /** CLOCK_MONOTONIC nanoseconds. */
  expiresNs: bigint;
  addr: string;
  addr2: string | null;
  port: number;
  port2: number;
  svcId: number;
  backendId: number;
  type: number;
  state: number;
  flags: number;
  tcpFlagsSeen: number;
}

export function encodeCtVal(v: CtVal): Buffer {
  const b = Buffer.alloc(SIZE.ekp_ct_val);
  b.writeBigUInt64LE(v.expiresNs, O.ctVal.expires_ns.offset);
  writeAddr(b, O.ctVal.addr.offset, v.addr);
  if (v.addr2) writeAddr(b, O.ctVal.addr2.offset, v.addr2);
  b.writeUInt16BE(v.port, O.ctVal.port.offset);
  b.writeUInt16BE(v.port2, O.ctVal.port2.offset);
  b.writeUInt32LE(v.svcId, O.ctVal.svc_id.offset);
  b.writeUInt32LE(v.backendId, O.ctVal.backend_id.offset);
  b.writeUInt8(v.type, O.ctVal.type.offset);
  b.writeUInt8(v.state, O.ctVal.state.offset);
  b.writeUInt8(v.flags, O.ctVal.flags.offset);
  b.writeUInt8(v.tcpFlagsSeen, O.ctVal.tcp_flags_seen.offset);
  return b;
}

/** The family is not stored in the value; pass the key's. */
export function decodeCtVal(b: Buffer, family: Family): CtVal {
  const a2 = b.subarray(O.ctVal.addr2.offset, O.ctVal.addr2.offset + 16);
  return {
    expiresNs: b.readBigUInt64LE(O.ctVal.expires_ns.offset),
    addr: decodeAddr(b, family, O.ctVal.addr.offset),
    addr2: a2.every((x) => x === 0) ? null : decodeAddr(b, family, O.ctVal.addr2.offset),
    port: b.readUInt16BE(O.ctVal.port.offset),
    port2: b.readUInt16BE(O.ctVal.port2.offset),
    svcId: b.readUInt32LE(O.ctVal.svc_id.offset),
    backendId: b.readUInt32LE(O.ctVal.backend_id.offset),
    type: b.readUInt8(O.ctVal.type.offset),
    state: b.readUInt8(O.ctVal.state.offset),
    flags: b.readUInt8(O.ctVal.flags.offset),
    tcpFlagsSeen: b.readUInt8(O.ctVal.tcp_flags_seen.offset),
  };
}

/**
 * For GC: the REV key that belongs to a FWD entry (delete both when the FWD entry
 * expired). Replies travel backend -> client, or backend -> SNAT address.
 */
export function reverseKeyOf(fwdKey: CtKey, fwd: CtVal): CtKey {
  const snat = (fwd.flags & CT_F.SNAT) !== 0 && fwd.addr2 !== null;
  return {
    saddr: fwd.addr,
    sport: fwd.port,
    daddr: snat ? fwd.addr2! : fwdKey.saddr,
    dport: snat ? fwd.port2 : fwdKey.sport,
    proto: fwdKey.proto,
  };
}

// ---- affinity, source ranges, socket LB ------------------------------------------------

/** `localSet`: the entry of a frontend that picks from the node-local backends (SVC_F.LOCAL_SET). */
export function encodeAffinityKey(svcId: number, client: string, localSet = false): Buffer {
  const b = Buffer.alloc(SIZE.ekp_affinity_key);
  b.writeUInt32LE(svcId, O.affKey.svc_id.offset);
  b.writeUInt8(localSet ? 1 : 0, O.affKey.local_set.offset);
  b.writeUInt8(writeAddr(b, O.affKey.client.offset, client), O.affKey.family.offset);
  return b;
}

export function encodeAffinityVal(lastUsedNs: bigint, backendId: number): Buffer {
  const b = Buffer.alloc(SIZE.ekp_affinity_val);
  b.writeBigUInt64LE(lastUsedNs, LAYOUT.ekp_affinity_val.fields.last_used_ns.offset);
  b.writeUInt32LE(backendId, LAYOUT.ekp_affinity_val.fields.backend_id.offset);
  return b;
}

export function decodeAffinityVal(b: Buffer): { lastUsedNs: bigint; backendId: number } {
  return {
    lastUsedNs: b.readBigUInt64LE(LAYOUT.ekp_affinity_val.fields.last_used_ns.offset),
    backendId: b.readUInt32LE(LAYOUT.ekp_affinity_val.fields.backend_id.offset),
  };
}

/** Key of ClusterIP `addr` in ekp_vip_v1. */
export function encodeVipKey(addr: string): Buffer {
  const b = Buffer.alloc(SIZE.ekp_vip_key);
  b.writeUInt8(writeAddr(b, O.vipKey.addr.offset, addr), O.vipKey.family.offset);
  return b;
}

/** A family's ClusterIPs' common prefix: address and mask bytes as on the wire (16 each; IPv4 in the first 4). */
export interface VipNet {
  readonly net: Buffer;
  readonly mask: Buffer;
}

/** ekp_vipnet_v1's one value; a family without ClusterIPs is null (off). */
export function encodeVipNet(v4: VipNet | null, v6: VipNet | null): Buffer {
  const b = Buffer.alloc(SIZE.ekp_vipnet);
  if (v4) {
    v4.net.copy(b, O.vipNet.v4_net.offset, 0, 4);
    v4.mask.copy(b, O.vipNet.v4_mask.offset, 0, 4);
    b.writeUInt8(1, O.vipNet.v4_on.offset);
  }
  if (v6) {
    v6.net.copy(b, O.vipNet.v6_net.offset, 0, 16);
    v6.mask.copy(b, O.vipNet.v6_mask.offset, 0, 16);
    b.writeUInt8(1, O.vipNet.v6_on.offset);
  }
  return b;
}

/** A CIDR's address, family and prefix length; without "/len", a host's (when `hostAllowed`). */
function splitCidr(cidr: string, hostAllowed: boolean): { addr: string; fam: Family; bits: number } {
  const [addr, lenText] = cidr.split('/') as [string, string | undefined];
  const fam = familyOf(addr);
  const bits = lenText === undefined && hostAllowed ? (fam === 4 ? 32 : 128) : Number(lenText);
  if (!Number.isInteger(bits) || bits < 0 || bits > (fam === 4 ? 32 : 128)) throw new RangeError(`bad CIDR ${cidr}`);
  return { addr, fam, bits };
}

/** LPM key of Service CIDR `cidr` ("10.96.0.0/16", "fd00:96::/112") in ekp_svccidr_v1. */
export function encodeSvcCidrKey(cidr: string): Buffer {
  const { addr, fam, bits } = splitCidr(cidr, false);
  const b = Buffer.alloc(SIZE.ekp_svccidr_key);
  b.writeUInt32LE(SVCCIDR_PREFIX_BASE + bits, O.svcCidrKey.prefixlen.offset);
  b.writeUInt8(fam, O.svcCidrKey.family.offset);
  writeAddr(b, O.svcCidrKey.addr.offset, addr);
  return b;
}

/** LPM key for loadBalancerSourceRanges entry `cidr` ("10.0.0.0/8", "2001:db8::/32"). */
export function encodeSrcRangeKey(svcId: number, cidr: string): Buffer {
  const { addr, fam, bits } = splitCidr(cidr, true);
  const b = Buffer.alloc(SIZE.ekp_srcrange_key);
  b.writeUInt32LE(SRCRANGE_PREFIX_BASE + bits, O.srKey.prefixlen.offset);
  b.writeUInt32LE(svcId, O.srKey.svc_id.offset);
  b.writeUInt8(fam, O.srKey.family.offset);
  writeAddr(b, O.srKey.addr.offset, addr);
  return b;
}

export function encodeSrcRangeVal(allow = true): Buffer {
  return encodeU32(allow ? 1 : 0);
}

export function encodeSockKey(cookie: bigint, backendAddr: string, backendPort: number): Buffer {
  const b = Buffer.alloc(SIZE.ekp_sock_key);
  b.writeBigUInt64LE(cookie, O.sockKey.cookie.offset);
  b.writeUInt8(writeAddr(b, O.sockKey.addr.offset, backendAddr), O.sockKey.family.offset);
  b.writeUInt16BE(backendPort, O.sockKey.port.offset);
  return b;
}

export function decodeSockVal(b: Buffer, family: Family): { addr: string; port: number; svcId: number } {
  return {
    addr: decodeAddr(b, family, O.sockVal.addr.offset),
    port: b.readUInt16BE(O.sockVal.port.offset),
    svcId: b.readUInt32LE(O.sockVal.svc_id.offset),
  };
}

// ---- counters -------------------------------------------------------------------------

export interface Counter {
  packets: bigint;
  bytes: bigint;
}

/** Sums a per-CPU value (valueSize*ncpus, 8-byte aligned per CPU) of struct ekp_counter. */
export function sumPerCpuCounter(b: Buffer): Counter {
  const stride = SIZE.ekp_counter; // already a multiple of 8
  let packets = 0n, bytes = 0n;
  for (let off = 0; off + stride <= b.length; off += stride) {
    packets += b.readBigUInt64LE(off);
    bytes += b.readBigUInt64LE(off + 8);
  }
  return { packets, bytes };
}

// ---- config ---------------------------------------------------------------------------

export interface Config {
  flags?: number;
  snatV4?: string;
  snatV6?: string;
  hairpinV4?: string;
  hairpinV6?: string;
  snatPortMin?: number;
  snatPortMax?: number;
  ctTimeoutS?: Partial<Record<keyof typeof CT_TIMEOUT_DEFAULT_S, number>>;
}

/** struct ekp_config for setRodata(CONFIG_GLOBAL, ...). */
export function encodeConfig(c: Config = {}): Buffer {
  const b = Buffer.alloc(SIZE.ekp_config);
  const t = { ...CT_TIMEOUT_DEFAULT_S, ...c.ctTimeoutS };
  b.writeUInt32LE(ABI_VERSION, O.cfg.abi_version.offset);
  b.writeUInt32LE(c.flags ?? 0, O.cfg.flags.offset);
  const addr = (off: number, a: string | undefined, fam: Family) => {
    if (a === undefined) return;
    if (familyOf(a) !== fam) throw new TypeError(`config: ${a} is not IPv${fam}`);
    writeAddr(b, off, a);
  };
  addr(O.cfg.snat_v4.offset, c.snatV4, 4);
  addr(O.cfg.snat_v6.offset, c.snatV6, 6);
  addr(O.cfg.hairpin_v4.offset, c.hairpinV4, 4);
  addr(O.cfg.hairpin_v6.offset, c.hairpinV6, 6);
  b.writeUInt16LE(c.snatPortMin ?? SNAT_PORT_DEFAULT.min, O.cfg.snat_port_min.offset);
  b.writeUInt16LE(c.snatPortMax ?? SNAT_PORT_DEFAULT.max, O.cfg.snat_port_max.offset);
  b.writeUInt32LE(t.syn, O.cfg.ct_timeout_syn_s.offset);
  b.writeUInt32LE(t.established, O.cfg.ct_timeout_established_s.offset);
  b.writeUInt32LE(t.closing, O.cfg.ct_timeout_closing_s.offset);
  b.writeUInt32LE(t.udp, O.cfg.ct_timeout_udp_s.offset);
  b.writeUInt32LE(t.other, O.cfg.ct_timeout_other_s.offset);
  return b;
}
