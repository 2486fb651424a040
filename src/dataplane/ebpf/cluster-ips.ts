// The ClusterIPs in ekp_vip_v1, for the datapath's refusal of the ports no service has
// (bpf/lib/pipeline.h, no_service). Kept apart from the service writer: an entry here is an
// address, shared by every service port on it, and written after that sync's service entries,
// so a new service's own port is never refused for want of its entry.
import type { DesiredService } from '../../model/index.js';
import type { StateUpdate } from '../../tracker/index.js';
import { encodeU32, encodeVipKey } from './abi.js';
import type { MapLike } from './writer.js';

const hex = (b: Buffer) => b.toString('hex');

const clusterIps = (s: DesiredService | undefined): string[] =>
  s ? [...new Set(s.frontends.filter((f) => f.kind === 'clusterIP').map((f) => hex(encodeVipKey(f.address))))] : [];

export class ClusterIpWriter {
  /** Service port → the keys of its ClusterIPs. */
  private readonly byService = new Map<string, string[]>();
  /** Key → how many service ports have it. */
  private readonly ports = new Map<string, number>();
  /** A write failed: the next apply rewrites everything. */
  private dirty = false;

  constructor(private readonly map: MapLike) {}

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
    this.dirty = false;
    return { written, deleted };
  }
}
