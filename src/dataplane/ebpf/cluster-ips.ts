// The ClusterIPs in ekp_vip_v1, for the datapath's refusal of the ports no service has (and, with
// the ExternalIPs and LoadBalancer IPs that a second instance keeps in ekp_extvip_v1, its answer
// to pings, bpf/lib/echo.h), the
// Service CIDRs in ekp_svccidr_v1, for its drop of their addresses no service has
// (bpf/lib/pipeline.h, vip_class_of), and the common prefix of both per family in
// ekp_vipnet_v1, which spares other traffic the lookups. Kept apart from the service writer: an
// entry here is an address, shared by every service port on it, and written after that sync's
// service entries, so a new service's own port is not refused for want of its entry (one the
// service writer could not program, for want of room, is: it would not be served either way).
import type { DesiredService } from '../../model/index.js';
import type { StateUpdate } from '../../tracker/index.js';
import { cidrContains, parseCIDR, parseIP } from '../../model/index.js';
import { encodeSvcCidrKey, encodeU32, encodeVipKey, encodeVipNet, LAYOUT, MAP_DEFAULT_SIZE, type VipNet } from './abi.js';
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

type FrontendKind = DesiredService['frontends'][number]['kind'];

const addressesOf = (kinds: ReadonlySet<FrontendKind>) => (s: DesiredService | undefined): string[] =>
  s ? [...new Set(s.frontends.filter((f) => kinds.has(f.kind)).map((f) => hex(encodeVipKey(f.address))))] : [];

/** ekp_vip_v1's addresses. */
export const CLUSTER_IPS: ReadonlySet<FrontendKind> = new Set(['clusterIP']);
/** ekp_extvip_v1's: the other addresses a service owns (a NodePort's are the node's). */
export const EXTERNAL_IPS: ReadonlySet<FrontendKind> = new Set(['externalIP', 'loadBalancer']);

export interface CidrOptions {
  /** Which frontends' addresses the map keeps (default CLUSTER_IPS). */
  kinds?: ReadonlySet<FrontendKind>;
  /** Every address of this node's: a Service CIDR holding one is not dropped (see droppable). */
  localAddresses?: () => readonly string[];
  /** ekp_svccidr_v1's max_entries. */
  max?: number;
  warn?: (msg: string, fields: Record<string, unknown>) => void;
}

export class ClusterIpWriter {
  /** Service port → the keys of its ClusterIPs. */
  private readonly byService = new Map<string, string[]>();
  /** Key → how many service ports have it. */
  private readonly ports = new Map<string, number>();
  /** A write failed: the next apply rewrites everything. */
  private dirty = false;
  /** The Service CIDRs in cidrMap, as written. */
  private cidrs: string[] = [];
  /** What was said about CIDRs left out, so that it is said once. */
  private said = '';
  /** The state's Service CIDRs last judged (droppable), and the verdict. */
  private judged: { of: StateUpdate['state']['serviceCIDRs'] | null; cidrs: string[] } = { of: null, cidrs: [] };
  private readonly addresses: (s: DesiredService | undefined) => string[];

  constructor(
    private readonly map: MapLike,
    private readonly netMap: MapLike | null = null,
    private readonly cidrMap: MapLike | null = null,
    private readonly opts: CidrOptions = {},
  ) {
    this.addresses = addressesOf(opts.kinds ?? CLUSTER_IPS);
  }

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
      const after = this.addresses(update.state.services.get(spk));
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
    // Judged again on a full sync (the node's addresses may have moved) or when the CIDRs changed,
    // not on every partial sync: it reads every address of the node.
    if (this.cidrMap && (full || update.state.serviceCIDRs !== this.judged.of)) {
      this.judged = { of: update.state.serviceCIDRs, cidrs: this.droppable(update) };
    }
    const cidrs = this.judged.cidrs;
    const cidrsChanged = full || cidrs.join() !== this.cidrs.join();
    if (this.cidrMap && cidrsChanged) this.cidrs = this.writeCidrs(cidrs);
    // The addresses came or went: the prefixes may change. After the entries: an address is
    // looked up only once inside, and the entries are there by then.
    if (this.netMap && (full || cidrsChanged || deletes.size || writes.some((k) => was.get(k) === 0))) this.writeNets();
    this.dirty = false;
    return { written, deleted };
  }

  /**
   * The Service CIDRs whose unallocated addresses may be dropped. The drop is at tc ingress, which
   * also sees traffic to the node itself (kube-proxy's is after routing, for forwarded and
   * node-sent packets only): a CIDR holding one of the node's addresses (a typo such as
   * 10.0.0.0/8) would cut the node off, so it is left out, and said. So are those past the map's size.
   */
  private droppable(update: StateUpdate): string[] {
    const all = [...(update.state.serviceCIDRs?.[4] ?? []), ...(update.state.serviceCIDRs?.[6] ?? [])];
    const local = (this.opts.localAddresses?.() ?? []).map((a) => parseIP(a)).flatMap((r) => (r.ok ? [r.ip] : []));
    const out: string[] = [];
    const problems: string[] = [];
    for (const c of all) {
      const parsed = parseCIDR(c);
      const mine = parsed.ok ? local.find((ip) => cidrContains(parsed.cidr, ip)) : undefined;
      if (!parsed.ok) problems.push(`${c}: not a CIDR`);
      else if (mine) problems.push(`${c}: holds this node's address ${mine.text}`);
      else if (out.length >= (this.opts.max ?? MAP_DEFAULT_SIZE.ekp_svccidr_v1)) problems.push(`${c}: more Service CIDRs than ekp_svccidr_v1 holds`);
      else out.push(c);
    }
    const text = problems.join('; ');
    if (text !== this.said && text !== '') this.opts.warn?.('Service CIDRs left out: their unallocated addresses are not dropped', { problems });
    this.said = text;
    return out;
  }

  /**
   * Makes cidrMap hold `cidrs`: what goes first (so that a previous instance's entries never keep
   * a wanted one out of the map), then what is new. Returns what the map holds of `cidrs`; a
   * failed write is said, and tried again by the next apply, which will see a difference.
   */
  private writeCidrs(cidrs: readonly string[]): string[] {
    const want = new Map(cidrs.map((c) => [hex(encodeSvcCidrKey(c)), c]));
    try {
      // One at a time: an LPM trie has no batch operations, and there are a handful.
      for (const [k] of [...this.cidrMap!.entries()]) if (!want.has(hex(k))) this.cidrMap!.delete(k);
      for (const k of want.keys()) this.cidrMap!.update(Buffer.from(k, 'hex'), encodeU32(0));
      return [...cidrs];
    } catch (e) {
      this.opts.warn?.('Service CIDRs not written: their unallocated addresses are not dropped until the next sync', { error: (e as Error).message });
      const held = new Set([...this.cidrMap!.entries()].map(([k]) => hex(k)));
      return [...want].filter(([k]) => held.has(k)).map(([, c]) => c);
    }
  }

  private writeNets(): void {
    const byFamily: Record<4 | 6, Buffer[]> = { 4: [], 6: [] };
    const add = (b: Buffer) => byFamily[b[KEY.family.offset] === 6 ? 6 : 4].push(b);
    for (const k of this.ports.keys()) add(Buffer.from(k, 'hex'));
    if (this.cidrMap) for (const c of this.cidrs) cidrBounds(c).forEach(add);
    this.netMap!.update(encodeU32(0), encodeVipNet(commonPrefix(byFamily[4]), commonPrefix(byFamily[6])));
  }
}
