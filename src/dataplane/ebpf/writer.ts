import type { Backend, DesiredService, Frontend } from '../../model/index.js';
import type { StateUpdate } from '../../tracker/index.js';
import {
  BE_F, writeBackendVal, encodeSrcRangeKey, encodeSrcRangeVal, encodeSvcKey, encodeSvcVal, encodeU32, decodeSvcVal,
  decodeAffinityVal, decodeBackendVal, FREE_BACKEND, LAYOUT, SLOTS_PER_ENTRY, SVC_F, slotEntries, writeSlotRegion, type SvcVal,
} from './abi.js';
import { IdAllocator, SlotPool } from './alloc.js';
import { BackendTable } from './backends.js';
import { maglevTable, maglevTableSize } from './maglev.js';

/** What the writer needs of a BPF map (BpfMap has it; tests use an in-memory fake). */
export interface MapLike {
  update(key: Buffer, value: Buffer): void;
  delete(key: Buffer): boolean;
  updateBatch(keys: Buffer, values: Buffer): number;
  deleteBatch(keys: Buffer): number;
  entries(): Iterable<[Buffer, Buffer]>;
}

/** The slot pool, an array: read back in part at a restart. */
export interface ArrayMapLike extends MapLike {
  /** Values of keys [first, first + count), packed. */
  arrayValues(first: number, count: number): Buffer;
}

export interface ServiceMaps {
  svc: MapLike;
  backend: MapLike;
  slots: ArrayMapLike;
  srcRange: MapLike;
  /** ClientIP affinity entries, which the writer deletes when their backend leaves the service. */
  affinity?: MapLike;
}

export type LbAlgorithm = 'random' | 'maglev';

export interface WriterOptions {
  algorithm: LbAlgorithm;
  /**
   * What the maps hold, so ids, regions and entries stay inside them: ids by max_entries, slots by
   * slot (SLOTS_PER_ENTRY per entry), svcEntries by the service map's max_entries (unbounded if unset).
   */
  sizes: { svcIds: number; backends: number; slots: number; svcEntries?: number };
  maglevMaxSize?: number;
  /** Whether an address is this node's: an ExternalIP or LB IP that is gets NODE_ADDR (its replies carry it as source). */
  isNodeAddress?: (address: string) => boolean;
}

interface Entry {
  key: Buffer;
  val: Required<SvcVal>;
  /** Backend ids in slot order: what the region holds. */
  slots: number[];
}

interface Programmed {
  /** What was written: an update carrying this same object has nothing new for the service. */
  desired: DesiredService;
  svcId: number;
  entries: Map<string, Entry>;
  /** Backend ids, one reference per use (a backend in two scopes is held twice). */
  backends: number[];
  ranges: Map<string, Buffer> | null;
}

/**
 * A run of slots holding one table. The entries of a service whose tables are the same (a
 * NodePort on each node address, the ClusterIP) share one: slots do not grow with addresses.
 */
interface Region {
  off: number;
  len: number;
  slots: number[];
  /** Entry keys pointing at it (live or adopted): freed when the last one lets go. */
  refs: number;
}

export interface WriteStats {
  servicePorts: number;
  svcEntriesWritten: number;
  svcEntriesDeleted: number;
  slotsWritten: number;
  backendsWritten: number;
  backendsFreed: number;
  /** Entries a service left out because another service's entry has the same frontend. */
  entriesLeftOut: number;
  /** Service ports left as they were (or unprogrammed, if new): the ids or slots they need ran out. */
  notProgrammed: { service: string; error: string }[];
  /** Affinity entries deleted: their backend left the service, or the service is gone. */
  affinityDeleted: number;
}

/** The name Maglev hashes: part of the table's identity across restarts, so it stays text. */
const maglevName = (b: Backend) => `${b.ip}|${b.port}`;
const BACKEND_VAL_SIZE = LAYOUT.ekp_backend_val.size;
const RANGE_SVC_ID = LAYOUT.ekp_srcrange_key.fields.svc_id.offset;
const SLOT_ENTRY_SIZE = LAYOUT.ekp_slot_pair.size;
const hex = (b: Buffer) => b.toString('hex');

/**
 * Turns desired service ports into the datapath's maps: one service entry per
 * frontend and scope, a slot region per distinct table of a service (random list or Maglev),
 * backends by id, and source-range LPM entries. Every change is ordered so the
 * datapath never sees a half-written service: backends first, then the new
 * region, then the entry that points at it, and only then are old regions and
 * unused backends freed.
 */
export class ServiceWriter {
  private readonly svcIds: IdAllocator;
  private readonly backendIds: IdAllocator;
  private readonly pool: SlotPool;
  private readonly byService = new Map<string, Programmed>();
  private readonly backends = new BackendTable();
  private applies = 0;
  /** Region of every live service entry, by entry key (hex). */
  private readonly regions = new Map<string, Region>();
  /**
   * The service port whose entry a key (hex) is: two Services claiming one frontend
   * (an ExternalIP another one also lists) would otherwise overwrite, and on removal
   * delete, each other's entry and region. The first keeps it, as in nftables mode.
   */
  private readonly keyOwner = new Map<string, string>();
  /** Service ports that left an entry out for another's: looked at again every apply, last. */
  private readonly conflicted = new Set<string>();
  /** Service ports the last apply could not program (ids or slots ran out): tried again every apply. */
  private readonly starved = new Set<string>();
  /**
   * Services a restart found programmed (adopted entries) that could not be written since, for
   * want of ids or slots: their adopted entries go on serving, with their svc id, regions and the
   * backend references of their first attempt kept, until they are written or removed.
   */
  private readonly held = new Map<string, { keys: string[]; svcId: number; refs: number[] }>();
  /** Entries found in the maps at start (a previous instance's), until a full sync settles them. */
  private adopted = new Map<string, { region: Region | null; svcId: number }>();
  /** Service ids of adopted entries reserved for their services and not yet taken back by one. */
  private readonly adoptedSvcIds = new Set<number>();
  /** Entries the service map holds, as far as this writer knows (recounted at every full sync). */
  private svcInMap = 0;

  constructor(private readonly maps: ServiceMaps, private readonly opts: WriterOptions) {
    this.svcIds = new IdAllocator(1, opts.sizes.svcIds - 1);
    this.backendIds = new IdAllocator(1, opts.sizes.backends - 1);
    this.pool = new SlotPool(opts.sizes.slots, SLOTS_PER_ENTRY);
  }

  /**
   * Reads what a previous instance left: its regions stay reserved and its
   * backend ids are reused for the same address, so affinity entries and live
   * tables stay valid. The regions' contents are read back too: the first full
   * sync keeps a region that already holds what it would write, so a restart
   * needs no room for a second copy of the unchanged ones, and writes only the rest.
   */
  adopt(): { entries: number; backends: number } {
    const claimed = new Map<string, Region>();
    for (const [k, v] of this.maps.svc.entries()) {
      const val = decodeSvcVal(v);
      let region: Region | null = null;
      if (val.slotLen > 0) {
        const at = `${val.slotOff}+${val.slotLen}`;
        region = claimed.get(at) ?? null;
        if (region) region.refs++;
        else {
          try {
            this.pool.claim(val.slotOff, val.slotLen);
            region = { off: val.slotOff, len: val.slotLen, slots: [], refs: 1 };
            claimed.set(at, region);
          } catch {
            region = null; // overlapping garbage: the full sync rewrites it
          }
        }
      }
      this.adopted.set(hex(k), { region, svcId: val.svcId });
      // Reserved at once: a service new since then must not be given the id of one still to come back.
      if (!this.adoptedSvcIds.has(val.svcId)) {
        try {
          this.svcIds.claim(val.svcId);
          this.adoptedSvcIds.add(val.svcId);
        } catch {
          // outside the map: garbage the full sync deletes
        }
      }
    }
    this.svcInMap = this.adopted.size;
    this.readRegions([...claimed.values()]);
    let backends = 0;
    for (const [k, v] of this.maps.backend.entries()) {
      const b = decodeBackendVal(v);
      if (!b) continue;
      const id = k.readUInt32LE(0);
      this.backendIds.claim(id);
      this.backends.add(id, b.addr, b.port, -1);
      backends++;
    }
    return { entries: this.adopted.size, backends };
  }

  apply(update: StateUpdate): WriteStats {
    const stats: WriteStats = { servicePorts: update.state.services.size, svcEntriesWritten: 0, svcEntriesDeleted: 0, slotsWritten: 0, backendsWritten: 0, backendsFreed: 0, entriesLeftOut: 0, notProgrammed: [], affinityDeleted: 0 };
    const full = update.changed === 'all';
    // A full sync counts what the service map holds, not what was tracked: drift, or an earlier
    // apply that failed between its bookkeeping and its writes, must not skew the capacity check.
    const present = full ? new Set(Array.from(this.maps.svc.entries(), ([k]) => hex(k))) : null;
    if (present) this.svcInMap = present.size;
    const changed = full ? new Set([...update.state.services.keys(), ...this.byService.keys()]) : update.changed;
    // Services that lost a frontend come last, so they take one freed in this same apply.
    // Services that could not be programmed for want of ids or slots are tried again every apply.
    const keys = [...new Set([...[...changed].filter((k) => !this.conflicted.has(k)), ...this.starved, ...this.conflicted])];
    const gen = ++this.applies;
    /** Whether a service with ClientIP affinity lost backends, or went: its entries are looked at. */
    let affinityDirty = full;
    /** Ids of services gone, freed after the affinity sweep (one freed now could go to a new service at once). */
    const svcIdReleases: number[] = [];

    const backendWrites: number[] = [];
    const slotWrites: { off: number; ids: number[] }[] = [];
    const svcWrites = new Map<string, Entry>();
    const svcDeletes = new Map<string, Buffer>();
    const rangeAdds = new Map<string, Buffer>();
    const rangeDeletes = new Map<string, Buffer>();
    const regionFrees: Region[] = [];
    /** An entry lets go of its region; the last one frees it (after the flip). */
    const unref = (r: Region | null | undefined) => {
      if (r && --r.refs === 0) regionFrees.push(r);
    };
    const backendReleases: number[] = [];
    const table = this.backends;
    /** An entry of this service no more: its key, region and frontend go. */
    const dropEntry = (k: string, e: Entry) => {
      svcDeletes.set(k, e.key);
      unref(this.regions.get(k));
      this.regions.delete(k);
      this.keyOwner.delete(k);
    };

    for (const spk of keys) {
      const desired = update.state.services.get(spk);
      const prev = this.byService.get(spk);
      const hold = this.held.get(spk);
      /** The hold ends (written, removed, or nothing adopted left): its references go after this apply. */
      const release = () => {
        if (!hold) return;
        backendReleases.push(...hold.refs);
        this.held.delete(spk);
      };
      if (!desired) {
        this.conflicted.delete(spk);
        this.starved.delete(spk);
        if (hold) {
          // Removed before it could be written: what the previous instance left goes now.
          for (const k of hold.keys) {
            const a = this.adopted.get(k);
            if (!a) continue;
            svcDeletes.set(k, Buffer.from(k, 'hex'));
            unref(a.region);
            this.adopted.delete(k);
          }
          for (const [k] of this.maps.srcRange.entries()) if (k.readUInt32LE(RANGE_SVC_ID) === hold.svcId) rangeDeletes.set(hex(k), Buffer.from(k));
          if (this.adoptedSvcIds.delete(hold.svcId)) svcIdReleases.push(hold.svcId);
          affinityDirty = true;
          release();
        }
        if (!prev) continue;
        affinityDirty ||= hasAffinity(prev);
        for (const [k, e] of prev.entries) dropEntry(k, e);
        if (prev.ranges) for (const [k, b] of prev.ranges) rangeDeletes.set(k, b);
        for (const id of prev.backends) backendReleases.push(id);
        svcIdReleases.push(prev.svcId);
        this.byService.delete(spk);
        continue;
      }

      // The tracker keeps a service's object while its inputs are unchanged, so a periodic
      // sync's unchanged services cost nothing here; a full sync rewrites them all.
      if (!full && prev?.desired === desired && !this.conflicted.has(spk) && !this.starved.has(spk)) continue;

      // First what can run out (a service id, backend ids, slot regions), undone whole when
      // something does: that service keeps what it had, everything else is programmed.
      let next: Programmed | null = null;
      let newSvcId: number | undefined;
      let adoptedId: number | undefined;
      const fresh: Region[] = [];
      const plan: { entry: Entry; k: string; old: Region | undefined; region: Region | null; same: boolean }[] = [];
      let lost = 0;
      let added = 0;
      try {
        const svcId = prev?.svcId ?? (adoptedId = this.adoptedSvcId(desired)) ?? (newSvcId = this.svcIds.allocate());
        const n: Programmed = next = { desired, svcId, entries: new Map(), backends: [], ranges: null };
        const acquire = (b: Backend): number => {
          const flags = (b.isLocal ? BE_F.LOCAL : 0) | (b.terminating ? BE_F.TERMINATING : 0);
          let id = table.find(b.ip, b.port);
          if (id < 0) {
            id = this.backendIds.allocate();
            table.add(id, b.ip, b.port, flags);
            if (table.queue(id, gen)) backendWrites.push(id);
          } else if (table.flags(id) !== flags || full) {
            table.setFlags(id, flags);
            if (table.queue(id, gen)) backendWrites.push(id);
          }
          table.ref(id, 1);
          n.backends.push(id);
          return id;
        };
        for (const entry of this.entriesOf(desired, svcId, acquire)) {
          const k = hex(entry.key);
          const owner = this.keyOwner.get(k);
          if (owner !== undefined && owner !== spk) {
            lost++;
            continue;
          }
          if (present ? !present.has(k) : owner === undefined && !this.adopted.has(k) && !svcDeletes.has(k)) added++;
          const old = this.regions.get(k) ?? this.adopted.get(k)?.region ?? undefined;
          const same = old !== undefined && sameIds(old.slots, entry.slots);
          let region: Region | null = same ? old : null;
          if (!same && entry.slots.length) {
            // Another entry of this service already has (or gets) this table: share its region.
            region = plan.find((p) => p.region && sameIds(p.region.slots, entry.slots))?.region ?? null;
            if (!region) {
              region = { off: this.pool.allocate(entry.slots.length), len: entry.slots.length, slots: entry.slots, refs: 0 };
              fresh.push(region);
            }
          }
          plan.push({ entry, k, old, region, same });
        }
        const cap = this.opts.sizes.svcEntries ?? Infinity;
        if (this.svcInMap + added > cap) {
          throw new RangeError(`the service map is full: ${this.svcInMap} of ${cap} entries used, and this service needs ${added} more (raise --bpf-max-services)`);
        }
      } catch (e) {
        // Ids or slots ran out, or the service cannot be written at all (a Maglev
        // size below the smallest table): what this attempt took goes back, the service keeps
        // what it had, and everything else is programmed. The error is reported as it is.
        for (const r of fresh) this.pool.release(r.off, r.len);
        if (newSvcId !== undefined) this.svcIds.release(newSvcId);
        if (adoptedId !== undefined) this.adoptedSvcIds.add(adoptedId);
        // A service a previous instance programmed keeps serving from what it left, and keeps
        // the backends (same addresses, same ids) of its first attempt referenced: its adopted
        // region names them, whatever later attempts take.
        const heldKeys = prev ? [] : this.keysOf(desired).filter((k) => this.adopted.has(k));
        const svcId = heldKeys.length ? this.adopted.get(heldKeys[0]!)!.svcId : undefined;
        if (svcId !== undefined && !hold) {
          this.held.set(spk, { keys: heldKeys, svcId, refs: next?.backends ?? [] });
        } else {
          if (next) backendReleases.push(...next.backends);
          if (svcId === undefined) release();
        }
        stats.notProgrammed.push({ service: spk, error: (e as Error).message });
        this.starved.add(spk);
        continue;
      }
      this.starved.delete(spk);
      release();
      this.svcInMap += added;
      for (const r of fresh) slotWrites.push({ off: r.off, ids: r.slots });

      for (const { entry, k, old, region, same } of plan) {
        this.keyOwner.set(k, spk);
        next.entries.set(k, entry);
        if (!this.regions.has(k)) this.adopted.delete(k);
        if (!same) {
          if (region) region.refs++;
          unref(old);
        }
        entry.val.slotOff = region?.off ?? 0;
        entry.val.slotLen = region?.len ?? 0;
        if (region) this.regions.set(k, region);
        else this.regions.delete(k);
        const prevEntry = prev?.entries.get(k);
        if (full || !prevEntry || !sameVal(prevEntry.val, entry.val)) svcWrites.set(k, entry);
        svcDeletes.delete(k); // a frontend another service gave up earlier in this apply
      }
      for (const f of desired.frontends) {
        if (!f.sourceRanges?.length) continue;
        next.ranges ??= new Map();
        for (const cidr of f.sourceRanges) {
          const key = encodeSrcRangeKey(next.svcId, cidr);
          next.ranges.set(hex(key), key);
        }
      }
      if (lost) this.conflicted.add(spk);
      else this.conflicted.delete(spk);
      stats.entriesLeftOut += lost;
      if (prev) {
        affinityDirty ||= hasAffinity(prev) && (!hasAffinity(next) || !sameSet(prev.backends, next.backends));
        for (const [k, e] of prev.entries) if (!next.entries.has(k)) dropEntry(k, e);
        if (prev.ranges) for (const [k, b] of prev.ranges) if (!next.ranges?.has(k)) rangeDeletes.set(k, b);
        for (const id of prev.backends) backendReleases.push(id);
      }
      if (next.ranges) for (const [k, b] of next.ranges) if (full || !prev?.ranges?.has(k)) rangeAdds.set(k, b);
      this.byService.set(spk, next);
    }

    if (full) {
      // Repair drift: whatever is in the kernel and not ours goes.
      const live = new Set<string>();
      for (const p of this.byService.values()) for (const k of p.entries.keys()) live.add(k);
      const heldKeys = new Set<string>();
      const heldIds = new Set<number>();
      for (const h of this.held.values()) {
        for (const k of h.keys) if (this.adopted.has(k)) heldKeys.add(k);
        heldIds.add(h.svcId);
      }
      for (const k of heldKeys) live.add(k);
      for (const h of present!) if (!live.has(h)) svcDeletes.set(h, Buffer.from(h, 'hex'));
      const liveRanges = new Set<string>();
      for (const p of this.byService.values()) if (p.ranges) for (const k of p.ranges.keys()) liveRanges.add(k);
      for (const [k] of this.maps.srcRange.entries()) {
        if (!liveRanges.has(hex(k)) && !heldIds.has(k.readUInt32LE(RANGE_SVC_ID))) rangeDeletes.set(hex(k), Buffer.from(k));
      }
      for (const [k, a] of this.adopted) {
        if (heldKeys.has(k)) continue;
        unref(a.region);
        this.adopted.delete(k);
      }
      for (const id of this.adoptedSvcIds) {
        if (heldIds.has(id)) continue;
        this.svcIds.release(id);
        this.adoptedSvcIds.delete(id);
      }
    }

    // 1. backends, 2. new regions, 3. source ranges, 4. service entries: a
    // packet finds either the old complete service or the new complete one.
    if (backendWrites.length) {
      const n = backendWrites.length;
      const keys = Buffer.allocUnsafe(n * 4);
      const values = Buffer.alloc(n * BACKEND_VAL_SIZE);
      for (let i = 0; i < n; i++) {
        const id = backendWrites[i]!;
        keys.writeUInt32LE(id, i * 4);
        writeBackendVal(values, i * BACKEND_VAL_SIZE, { addr: table.ip(id), port: table.port(id), flags: table.flags(id) });
      }
      this.maps.backend.updateBatch(keys, values);
      stats.backendsWritten = n;
    }
    if (slotWrites.length) {
      // Every region in one batch: one crossing into C++ and one syscall for a whole sync.
      const entries = slotWrites.reduce((n, w) => n + slotEntries(w.ids.length), 0);
      const sk = Buffer.allocUnsafe(entries * 4);
      const sv = Buffer.allocUnsafe(entries * SLOT_ENTRY_SIZE);
      let at = 0;
      for (const w of slotWrites) at += writeSlotRegion(sk, sv, at, w.off, w.ids);
      this.maps.slots.updateBatch(sk, sv);
      stats.slotsWritten = slotWrites.reduce((n, w) => n + w.ids.length, 0);
    }
    if (rangeAdds.size) {
      const ks = [...rangeAdds.values()];
      this.maps.srcRange.updateBatch(Buffer.concat(ks), Buffer.concat(ks.map(() => encodeSrcRangeVal(true))));
    }
    if (svcWrites.size) {
      const es = [...svcWrites.values()];
      this.maps.svc.updateBatch(Buffer.concat(es.map((e) => e.key)), Buffer.concat(es.map((e) => encodeSvcVal(e.val))));
      stats.svcEntriesWritten = es.length;
    }
    // Before a removed backend's id is freed for reuse, no affinity entry may still lead to it.
    if (affinityDirty && this.maps.affinity) stats.affinityDeleted = this.sweepAffinity(this.maps.affinity);
    for (const id of svcIdReleases) this.svcIds.release(id);
    // 5. then what is no longer referenced.
    if (svcDeletes.size) stats.svcEntriesDeleted = this.maps.svc.deleteBatch(Buffer.concat([...svcDeletes.values()]));
    this.svcInMap -= stats.svcEntriesDeleted;
    if (rangeDeletes.size) this.maps.srcRange.deleteBatch(Buffer.concat([...rangeDeletes.values()]));
    for (const r of regionFrees) this.pool.release(r.off, r.len);
    const freed: number[] = [];
    for (const id of backendReleases) {
      if (table.ref(id, -1) > 0) continue;
      table.remove(id);
      this.backendIds.release(id);
      freed.push(id);
    }
    if (full) {
      // Adopted backends no service took back; while an adopted entry is held, its region may
      // name ids no desired backend has: they go at a full sync that holds none.
      for (const id of this.held.size ? [] : [...table.ids()]) {
        if (table.refs(id) > 0) continue;
        table.remove(id);
        this.backendIds.release(id);
        freed.push(id);
      }
    }
    if (freed.length) {
      this.maps.backend.updateBatch(Buffer.concat(freed.map(encodeU32)), Buffer.concat(freed.map(() => FREE_BACKEND)));
      stats.backendsFreed = freed.length;
    }
    return stats;
  }

  /**
   * Deletes every affinity entry whose backend is not one of its service's now (or whose service
   * has no affinity, or is gone): the datapath trusts an entry's backend while it is allocated
   * and not terminating, and ids are reused, so a client would follow a removed pod's id to
   * whatever service's pod gets it next. kube-proxy's affinity goes with the endpoint the same way.
   */
  private sweepAffinity(map: MapLike): number {
    const allowed = new Map<number, Set<number>>();
    for (const p of this.byService.values()) if (hasAffinity(p)) allowed.set(p.svcId, new Set(p.backends));
    // A held service serves from its adopted entries: its clients keep their backends.
    for (const h of this.held.values()) allowed.set(h.svcId, new Set(h.refs));
    const stale: Buffer[] = [];
    for (const [k, v] of map.entries()) {
      const ok = allowed.get(k.readUInt32LE(LAYOUT.ekp_affinity_key.fields.svc_id.offset));
      if (!ok?.has(decodeAffinityVal(v).backendId)) stale.push(Buffer.from(k));
    }
    return stale.length ? map.deleteBatch(Buffer.concat(stale)) : 0;
  }

  /** Every service port written and not since removed. */
  programmedKeys(): Iterable<string> {
    return this.byService.keys();
  }

  /** Reverse-NAT/stats id of a service port (for metrics labels). */
  serviceIds(): Map<number, string> {
    const out = new Map<number, string>();
    for (const [k, p] of this.byService) out.set(p.svcId, k);
    return out;
  }

  usage(): { svcIds: number; backends: number; slots: number } {
    return { svcIds: this.svcIds.size, backends: this.backendIds.size, slots: this.pool.used };
  }

  /** `withSlots` false: the entries' keys and values only (no tables computed, nothing that can fail). */
  private entriesOf(s: DesiredService, svcId: number, acquire: (b: Backend) => number, withSlots = true): Entry[] {
    const base = (s.affinity.type === 'ClientIP' ? SVC_F.AFFINITY : 0) | (this.opts.algorithm === 'maglev' ? SVC_F.MAGLEV : 0);
    const timeout = s.affinity.type === 'ClientIP' ? s.affinity.timeoutSeconds : 0;
    const out: Entry[] = [];
    // Every NodePort, external and LB frontend of a scope has the same backend list: its table is
    // computed once (a Maglev table of a large service costs milliseconds).
    const tables = new Map<readonly Backend[], number[]>();
    const make = (f: Frontend, scope: 'external' | 'internal', backends: readonly Backend[], flags: number): void => {
      const ids = backends.map(acquire);
      let slots: number[] = [];
      if (withSlots) {
        slots = tables.get(backends) ?? this.slotsFor(backends, ids);
        tables.set(backends, slots);
      }
      out.push({
        key: encodeSvcKey({ addr: f.address, port: f.port, proto: f.protocol.toLowerCase() as 'tcp', scope }),
        val: { svcId, slotOff: 0, slotLen: 0, affinityTimeoutS: timeout, flags: base | flags },
        slots,
      });
    };
    for (const f of s.frontends) {
      if (f.kind === 'clusterIP') {
        // kube-proxy masquerades ClusterIP traffic from outside the cluster CIDRs;
        // the datapath SNATs external-origin flows to remote backends unless told not to.
        const flags = (s.internalBackends.dropWhenEmpty ? SVC_F.DROP_EMPTY : 0) | (s.masquerade.clusterIP === 'none' ? SVC_F.PRESERVE_SRC : 0)
          | (s.internalPolicyLocal ? SVC_F.LOCAL_SET : 0);
        make(f, 'external', s.internalBackends.backends, flags);
        continue;
      }
      const ext = s.externalBackends;
      const short = s.shortCircuitBackends;
      // Pods and the node itself reach external frontends through the cluster set (KUBE-EXT's
      // short-circuit); only when that differs from the external set is a second scope needed.
      const twoScopes = !sameBackends(ext.backends, short.backends) || ext.dropWhenEmpty !== short.dropWhenEmpty;
      const kind = f.kind === 'nodePort' ? SVC_F.NODEPORT : SVC_F.EXTERNAL | (this.opts.isNodeAddress?.(f.address) ? SVC_F.NODE_ADDR : 0);
      // Source ranges bind both scopes: kube-proxy checks them (KUBE-FW) before the short-circuit
      // (KUBE-EXT), so a pod outside them is shut out as any other client.
      const ranges = f.sourceRanges?.length ? SVC_F.SRC_RANGES : 0;
      const flags = (s.externalPolicyLocal ? SVC_F.PRESERVE_SRC | SVC_F.LOCAL_SET : 0)
        | (ext.dropWhenEmpty ? SVC_F.DROP_EMPTY : 0)
        | kind
        | ranges
        | (twoScopes ? SVC_F.TWO_SCOPES : 0);
      make(f, 'external', ext.backends, flags);
      if (twoScopes) make(f, 'internal', short.backends, (short.dropWhenEmpty ? SVC_F.DROP_EMPTY : 0) | kind | ranges);
    }
    return out;
  }

  /** `ids` is this entry's own fresh array: the random layout sorts it in place. */
  private slotsFor(backends: readonly Backend[], ids: number[]): number[] {
    if (ids.length === 0) return ids;
    if (this.opts.algorithm === 'random') return ascending(ids) ? ids : ids.sort((a, b) => a - b);
    const size = maglevTableSize(ids.length, this.opts.maglevMaxSize);
    return Array.from(maglevTable(backends.map((b, i) => ({ id: ids[i]!, name: maglevName(b) })), { size }));
  }

  /** The entry keys (hex) of a service's frontends, without allocating anything. */
  private keysOf(s: DesiredService): string[] {
    return this.entriesOf(s, 0, () => 0, false).map((e) => hex(e.key));
  }

  /**
   * Fills adopted regions' slots from the slot pool: one batched read of the span they cover,
   * not of the whole pool (1M slots by default, most of them free).
   */
  private readRegions(regions: Region[]): void {
    if (regions.length === 0) return;
    const from = Math.floor(regions.reduce((m, r) => Math.min(m, r.off), Infinity) / SLOTS_PER_ENTRY);
    const to = slotEntries(regions.reduce((m, r) => Math.max(m, r.off + r.len), 0));
    const span = this.maps.slots.arrayValues(from, to - from);
    const base = from * SLOTS_PER_ENTRY;
    for (const r of regions) {
      r.slots = Array.from({ length: r.len }, (_, i) => span.readUInt32LE((r.off + i - base) * 4));
    }
  }

  private adoptedSvcId(s: DesiredService): number | undefined {
    // A restart keeps each service's id: affinity entries and stats are keyed by it.
    const f = s.frontends[0];
    if (!f || this.adopted.size === 0) return undefined;
    const a = this.adopted.get(hex(encodeSvcKey({ addr: f.address, port: f.port, proto: f.protocol.toLowerCase() as 'tcp' })));
    if (!a) return undefined;
    // Each adopted id goes to one service at most: two now claiming one frontend must not share it.
    if (!this.adoptedSvcIds.delete(a.svcId)) return undefined;
    return a.svcId;
  }
}

function ascending(ids: readonly number[]): boolean {
  for (let i = 1; i < ids.length; i++) if (ids[i - 1]! > ids[i]!) return false;
  return true;
}

function sameIds(a: readonly number[], b: readonly number[]): boolean {
  return a === b || (a.length === b.length && a.every((x, i) => x === b[i]));
}

function hasAffinity(p: Programmed): boolean {
  return p.desired.affinity.type === 'ClientIP';
}

function sameSet(a: readonly number[], b: readonly number[]): boolean {
  const sb = new Set(b);
  return a.every((x) => sb.has(x)) && new Set(a).size === sb.size;
}

function sameVal(a: Required<SvcVal>, b: Required<SvcVal>): boolean {
  return a.svcId === b.svcId && a.slotOff === b.slotOff && a.slotLen === b.slotLen && a.affinityTimeoutS === b.affinityTimeoutS && a.flags === b.flags;
}

function sameBackends(a: readonly Backend[], b: readonly Backend[]): boolean {
  if (a === b) return true;
  return a.length === b.length && a.every((x, i) => x.ip === b[i]!.ip && x.port === b[i]!.port);
}
