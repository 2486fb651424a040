// UDP flows out of the ebpf conntrack maps: the one walk that both the diff's sweep (which flows:
// udp-conntrack.ts, shared with the netfilter modes) and the reconciler (udp-reconcile.ts) use.
// A FWD entry would keep sending a client's datagrams to a removed endpoint for as long as the
// client keeps talking; once both entries are gone, its next datagram is a new flow and picks a
// live backend.
import type { BpfMap } from '../../native/index.js';
import type { StaleUdpFlow } from '../udp-conntrack.js';
import { CT_TYPE, LAYOUT, PROTO, SIZE, decodeCtKey, decodeCtVal, encodeAddr, encodeCtKey, familyOf, reverseKeyOf } from './abi.js';

/**
 * Where each map's key keeps what the walk compares. The walk reads these bytes in place: decoding
 * every entry took 5 to 10 times as long as reading the map, and the reconciler walks every UDP
 * entry on every full sync.
 */
const KEY_AT: Record<number, { proto: number; saddr: number; daddr: number; sport: number; dport: number; addrLen: 4 | 16 }> = {
  [SIZE.ekp_ct4_key]: { ...offsets(LAYOUT.ekp_ct4_key.fields), addrLen: 4 },
  [SIZE.ekp_ct_key]: { ...offsets(LAYOUT.ekp_ct_key.fields), addrLen: 16 },
};
const VAL = LAYOUT.ekp_ct_val.fields;

function offsets(f: typeof LAYOUT.ekp_ct4_key.fields | typeof LAYOUT.ekp_ct_key.fields) {
  return { proto: f.proto.offset, saddr: f.saddr.offset, daddr: f.daddr.offset, sport: f.sport.offset, dport: f.dport.offset };
}

/**
 * An address and port as the walk compares them, made from the bytes the map holds: one
 * character per 16-bit word of the address (2 for IPv4, 8 for IPv6), then one for the port. By
 * bytes, since the model's text and the map's decoded text may spell an IPv6 address differently;
 * and built without a call into C++ (hex or latin1 text: 2 to 3 times the cost), as the walk
 * builds two for every UDP entry.
 */
export type FlowId = string;

const u16 = (b: Buffer, o: number) => (b[o]! << 8) | b[o + 1]!;

function idAt(b: Buffer, a: number, addrLen: 4 | 16, port: number): FlowId {
  return addrLen === 4
    ? String.fromCharCode(u16(b, a), u16(b, a + 2), u16(b, port))
    : String.fromCharCode(u16(b, a), u16(b, a + 2), u16(b, a + 4), u16(b, a + 6), u16(b, a + 8), u16(b, a + 10), u16(b, a + 12), u16(b, a + 14), u16(b, port));
}

/** The FlowId of udpFlows' "addr port". */
export function flowId(addrPort: string): FlowId {
  const sp = addrPort.lastIndexOf(' ');
  const addr = addrPort.slice(0, sp);
  const b = Buffer.alloc(18);
  encodeAddr(addr).copy(b);
  b.writeUInt16BE(Number(addrPort.slice(sp + 1)), 16);
  return idAt(b, 0, familyOf(addr) === 4 ? 4 : 16, 16);
}

/** A FlowId's address alone. */
const addressOf = (id: FlowId): FlowId => id.slice(0, -1);

/** What the walk needs of a conntrack map (a BpfMap; tests give a fake). */
export type CtMap = Pick<BpfMap, 'name' | 'keySize' | 'entries' | 'deleteBatch'>;

/** Whether a UDP flow goes: its frontend and its backend (the endpoint its replies come from). */
export type FlowTest = (frontend: FlowId, backend: FlowId) => boolean;

export interface Deleted {
  /** Map entries deleted (FWD and REV). */
  entries: number;
  /** Flows: FWD entries picked, and REV entries picked whose FWD entry was gone. */
  flows: number;
}

/**
 * Deletes the FWD and REV entries of every UDP flow in `ct` that `doomed` picks. A FWD entry is
 * judged by its key's destination (the frontend) and its value's address (the backend); a REV
 * entry by its value's address (the frontend) and its key's source (the backend), so a REV entry
 * whose FWD entry is already gone goes too. TCP and SCTP entries are passed over by their key's
 * protocol byte alone.
 */
export function deleteUdpFlows(ct: CtMap, doomed: FlowTest): Deleted {
  const at = KEY_AT[ct.keySize];
  if (!at) throw new TypeError(`${ct.name}: not a conntrack map (key of ${ct.keySize} bytes)`);
  const len = at.addrLen;
  const fwd: Buffer[] = [];
  // REV keys by hex: those of the FWD entries picked, and those picked themselves.
  const revOfFwd = new Map<string, Buffer>();
  const rev = new Map<string, Buffer>();
  for (const [k, v] of ct.entries()) {
    if (k[at.proto] !== PROTO.udp) continue;
    const type = v[VAL.type.offset];
    if (type === CT_TYPE.FWD && doomed(idAt(k, at.daddr, len, at.dport), idAt(v, VAL.addr.offset, len, VAL.port.offset))) {
      fwd.push(Buffer.from(k));
      const key = decodeCtKey(k);
      const r = encodeCtKey(reverseKeyOf(key, decodeCtVal(v, key.family)));
      revOfFwd.set(r.toString('hex'), r);
    } else if (type === CT_TYPE.REV && doomed(idAt(v, VAL.addr.offset, len, VAL.port.offset), idAt(k, at.saddr, len, at.sport))) {
      rev.set(k.toString('hex'), Buffer.from(k));
    }
  }
  // A REV entry picked both ways is one flow, deleted once.
  for (const h of revOfFwd.keys()) rev.delete(h);
  const keys = [...fwd, ...revOfFwd.values(), ...rev.values()];
  // Absent keys (an entry that expired or was evicted since the walk) are skipped.
  return { entries: keys.length ? ct.deleteBatch(Buffer.concat(keys)) : 0, flows: fwd.length + rev.size };
}

/** The flows of `stale`, by frontend: any backend, or these backends, or these backend addresses (any port). */
function wantedOf(stale: readonly StaleUdpFlow[]): FlowTest {
  const wanted = new Map<FlowId, { any: boolean; backends: Set<FlowId>; addresses: Set<FlowId> }>();
  for (const s of stale) {
    const k = flowId(`${s.frontend[0]} ${s.frontend[1]}`);
    let w = wanted.get(k);
    if (!w) wanted.set(k, (w = { any: false, backends: new Set(), addresses: new Set() }));
    if (!s.replySrc) w.any = true;
    else if (s.replySrcPort) w.backends.add(flowId(`${s.replySrc} ${s.replySrcPort}`));
    else w.addresses.add(addressOf(flowId(`${s.replySrc} 0`)));
  }
  return (frontend, backend) => {
    const w = wanted.get(frontend);
    return !!w && (w.any || w.backends.has(backend) || w.addresses.has(addressOf(backend)));
  };
}

/**
 * Deletes the FWD and REV entries of the UDP flows in `stale` (what a sync made stale) from every
 * map given (IPv4 and IPv6). Returns how many entries were deleted. One walk per map, and none
 * when nothing is stale.
 */
export function sweepUdpFlows(maps: readonly CtMap[], stale: readonly StaleUdpFlow[]): number {
  if (stale.length === 0) return 0;
  const doomed = wantedOf(stale);
  return maps.reduce((n, ct) => n + deleteUdpFlows(ct, doomed).entries, 0);
}
