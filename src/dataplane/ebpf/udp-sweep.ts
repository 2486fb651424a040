// Stale UDP flows out of the ebpf conntrack maps (which flows: udp-conntrack.ts, shared with the
// netfilter modes). A FWD entry would keep sending a client's datagrams to a removed endpoint for
// as long as the client keeps talking; once both entries are gone, its next datagram is a new
// flow and picks a live backend.
import type { BpfMap } from '../../native/index.js';
import type { StaleUdpFlow } from '../udp-conntrack.js';
import { CT_TYPE, LAYOUT, PROTO, SIZE, decodeCtKey, decodeCtVal, encodeAddr, encodeCtKey, reverseKeyOf } from './abi.js';

/** Where each map's key keeps its protocol: a TCP entry is passed over without decoding it. */
const PROTO_AT: Record<number, number> = {
  [SIZE.ekp_ct4_key]: LAYOUT.ekp_ct4_key.fields.proto.offset,
  [SIZE.ekp_ct_key]: LAYOUT.ekp_ct_key.fields.proto.offset,
};

// By bytes: the model's text and the map's decoded text may spell an IPv6 address differently.
const addrId = (addr: string) => encodeAddr(addr).toString('hex');
const id = (addr: string, port: number) => `${addrId(addr)} ${port}`;

/**
 * Deletes the FWD and REV entries of the UDP flows in `stale` from every map given (IPv4 and
 * IPv6). A FWD entry matches by its key's destination (the frontend) and its value's backend
 * address (the reply source); a REV entry by its value's frontend and its key's source (the
 * backend), so a REV entry whose FWD entry is already gone goes too. Returns how many entries
 * were deleted. One walk per map, and none when nothing is stale.
 */
export function sweepUdpFlows(maps: readonly BpfMap[], stale: readonly StaleUdpFlow[]): number {
  if (stale.length === 0) return 0;
  // frontend -> reply sources to match: "addr port", "addr" (any port), or '*' (any)
  const wanted = new Map<string, Set<string>>();
  for (const s of stale) {
    const k = id(s.frontend[0], s.frontend[1]);
    const set = wanted.get(k) ?? new Set<string>();
    set.add(!s.replySrc ? '*' : s.replySrcPort ? id(s.replySrc, s.replySrcPort) : addrId(s.replySrc));
    wanted.set(k, set);
  }
  const matches = (frontend: string, backend: string, backendPort: number) => {
    const set = wanted.get(frontend);
    return !!set && (set.has('*') || set.has(addrId(backend)) || set.has(id(backend, backendPort)));
  };
  let deleted = 0;
  for (const ct of maps) {
    const doomed: Buffer[] = [];
    for (const [k, v] of ct.entries()) {
      if (k[PROTO_AT[k.length]!] !== PROTO.udp) continue;
      const key = decodeCtKey(k);
      const val = decodeCtVal(v, key.family);
      if (val.type === CT_TYPE.FWD && matches(id(key.daddr, key.dport), val.addr, val.port)) {
        doomed.push(Buffer.from(k), encodeCtKey(reverseKeyOf(key, val)));
      } else if (val.type === CT_TYPE.REV && matches(id(val.addr, val.port), key.saddr, key.sport)) {
        doomed.push(Buffer.from(k));
      }
    }
    // A REV key can be named twice (by its FWD entry, and found itself); absent keys are skipped.
    const unique = [...new Map(doomed.map((b) => [b.toString('hex'), b])).values()];
    if (unique.length) deleted += ct.deleteBatch(Buffer.concat(unique));
  }
  return deleted;
}
