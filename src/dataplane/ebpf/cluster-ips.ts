// The ClusterIPs in ekp_vip_v1, for the datapath's refusal of the ports no service has, the
// Service CIDRs in ekp_svccidr_v1, for its drop of their addresses no service has
// (bpf/lib/pipeline.h, vip_class_of), and the common prefix of both per family in
// ekp_vipnet_v1, which spares other traffic the lookups. Kept apart from the service writer: an
// entry here is an address, shared by every service port on it, and written after that sync's
// service entries, so a new service's own port is not refused for want of its entry (one the
// service writer could not program, for want of room, is: it would not be served either way).
import type { DesiredService } from '../../model/index.js';
import type { StateUpdate } from '../../tracker/index.js';
import { encodeSvcCidrKey, encodeU32, encodeVipKey, encodeVipNet, LAYOUT, type VipNet } from './abi.js';
import type { MapLike } from './writer.js';

const hex = (b: Buffer) => b.toString('hex');

const KEY = LAYOUT.ekp_vip_key.fields;

/** The longest prefix the addresses (ekp_vip_key buffers of one family) share; null for none. */
export function commonPrefix(keys: readonly Buffer[]): VipNet | null {
  if (keys.length === 0) return null;
  const base = keys[0]!.subarray(KEY.addr.offset, KEY.addr.offset + KEY.addr.size);
  const differ = Buffer.alloc(16);
  for (const k of keys) for (let i = 0; i < 16; i++) differ[i]! |= k[KEY.addr.offset + i]! ^ base[i]!;
  const mask = Buffer.alloc(16);
  for (let i = 0; i < 16 && differ[i] === 0; i++) mask[i] = 0xff;
  const at = mask.indexOf(0);
  // The first byte that differs keeps its leading bits that agree.
  if (at >= 0) mask[at] = (0xff00 >> (Math.clz32(differ[at]!) - 24)) & 0xff;
  const net = Buffer.alloc(16);
  for (let i = 0; i < 16; i++) net[i] = base[i]! & mask[i]!;
  return { net, mask };
}

/**
 * A CIDR as the two ekp_vip_key-shaped addresses that bound it (its first and last), whose
 * common prefix is the CIDR's own.
 */
export function cidrBounds(cidr: string): Buffer[] {
  const first = encodeVipKey(cidr.slice(0, cidr.indexOf('/')));
  const bits = Number(cidr.slice(cidr.indexOf('/') + 1));
  const last = Buffer.from(first);
  const width = first[KEY.family.offset] === 6 ? 128 : 32;
  for (let bit = bits; bit < width; bit++) last[KEY.addr.offset + (bit >> 3)]! |= 0x80 >> (bit & 7);
  return [first, last];
}

const clusterIps = (s: DesiredService | undefined): string[] =>
  s ? [...new Set(s.frontends.filter((f) => f.kind === 'clusterIP').map((f) => hex(encodeVipKey(f.address))))] : [];

export class ClusterIpWriter {
  /** Service port → the keys of its ClusterIPs. */
  private readonly byService = new Map<string, string[]>();
  /** Key → how many service ports have it. */
  private readonly ports = new Map<string, number>();
  /** A write failed: the next apply rewrites everything. */
  private dirty = false;
  /** The Service CIDRs in cidrMap, as written. */
  private cidrs: string[] = [];

  constructor(private readonly map: MapLike, private readonly netMap: MapLike | null = null, private readonly cidrMap: MapLike | null = null) {}

  /**
   * Brings the map to `update`'s ClusterIPs, writing only addresses whose count of service ports
   * changed; a full update (or the first after a failed write) rewrites every one and deletes
   * what no service has.
   */
  apply(update: StateUpdate): { written: number; deleted: number } {
    const full = update.changed === 'all' || this.dirty;
    const keys = full ? new Set([...update.state.services.keys(), ...this.byService.keys()]) : update.changed as ReadonlySet<string>;
    /** Each address looked at, with its count before. */
    const was = new Map<string, number>();
    const count = (k: string, by: number) => {
      if (!was.has(k)) was.set(k, this.ports.get(k) ?? 0);
      this.ports.set(k, (this.ports.get(k) ?? 0) + by);
    };
    for (const spk of keys) {
      const before = this.byService.get(spk) ?? [];
      const after = clusterIps(update.state.services.get(spk));
      for (const k of before) count(k, -1);
      for (const k of after) count(k, 1);
      if (after.length) this.byService.set(spk, after);
      else this.byService.delete(spk);
    }
    const deletes = new Set<string>();
    for (const k of was.keys()) {
      if (this.ports.get(k)! > 0) continue;
      this.ports.delete(k);
      deletes.add(k);
    }
    const writes = full ? [...this.ports.keys()] : [...was].filter(([k, n]) => this.ports.has(k) && this.ports.get(k) !== n).map(([k]) => k);
    if (full) for (const [k] of this.map.entries()) if (!this.ports.has(hex(k))) deletes.add(hex(k));
    this.dirty = true;
    const written = writes.length
      ? this.map.updateBatch(Buffer.concat(writes.map((k) => Buffer.from(k, 'hex'))), Buffer.concat(writes.map((k) => encodeU32(this.ports.get(k)!))))
      : 0;
    const deleted = deletes.size ? this.map.deleteBatch(Buffer.concat([...deletes].map((k) => Buffer.from(k, 'hex')))) : 0;
    const cidrs = [...(update.state.serviceCIDRs?.[4] ?? []), ...(update.state.serviceCIDRs?.[6] ?? [])];
    const cidrsChanged = full || cidrs.join() !== this.cidrs.join();
    if (this.cidrMap && cidrsChanged) this.writeCidrs(cidrs);
    this.cidrs = cidrs;
    // The addresses came or went: the prefixes may change. After the entries: an address is
    // looked up only once inside, and the entries are there by then.
    if (this.netMap && (full || cidrsChanged || deletes.size || writes.some((k) => was.get(k) === 0))) this.writeNets();
    this.dirty = false;
    return { written, deleted };
  }

  /** Makes cidrMap hold exactly `cidrs`: the wanted ones written, the rest deleted. */
  private writeCidrs(cidrs: readonly string[]): void {
    const want = new Set(cidrs.map((c) => hex(encodeSvcCidrKey(c))));
    const gone = [...this.cidrMap!.entries()].map(([k]) => hex(k)).filter((k) => !want.has(k));
    // One at a time: an LPM trie has no batch operations, and there are a handful.
    for (const k of want) this.cidrMap!.update(Buffer.from(k, 'hex'), encodeU32(0));
    for (const k of gone) this.cidrMap!.delete(Buffer.from(k, 'hex'));
  }

  private writeNets(): void {
    const byFamily: Record<4 | 6, Buffer[]> = { 4: [], 6: [] };
    const add = (b: Buffer) => byFamily[b[KEY.family.offset] === 6 ? 6 : 4].push(b);
    for (const k of this.ports.keys()) add(Buffer.from(k, 'hex'));
    if (this.cidrMap) for (const c of this.cidrs) cidrBounds(c).forEach(add);
    this.netMap!.update(encodeU32(0), encodeVipNet(commonPrefix(byFamily[4]), commonPrefix(byFamily[6])));
  }
}
