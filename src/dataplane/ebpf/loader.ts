import { existsSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { BpfMap, BpfObject, bpfObjectPath, preparePinDir, type BpfProgram } from '../../native/index.js';
import type { Logger } from '../../observe/index.js';
import type { CtGcPrograms } from './conntrack-gc.js';
import { CFG_F, CONFIG_GLOBAL, MAP, encodeConfig, slotEntries, type Config } from './abi.js';

/** Where a program instance runs decides how it treats a packet's origin. */
export type AttachRole = 'wire' | 'host' | 'pods';

const ROLE_FLAGS: Record<AttachRole, number> = { wire: 0, host: CFG_F.FROM_HOST, pods: CFG_F.FROM_PODS };

/** The tc programs, by where they attach (devices.ts). */
export interface TcPrograms extends Record<AttachRole, BpfProgram> {
  /** Egress of pod-facing devices: what the node itself sends to a pod (host-network backends' replies, its ICMP errors). */
  toPod: BpfProgram;
}

export interface MapSizes {
  svc: number;
  /** Indexed by svc_id: one per service port. */
  svcStat: number;
  backend: number;
  /** Slots of the pool (SLOTS_PER_ENTRY per map entry). */
  slots: number;
  /** Each of the two conntrack maps (IPv4, IPv6). */
  ct: number;
  affinity: number;
  srcRange: number;
  sock: number;
  /** ClusterIPs: at most one a service port. */
  vip: number;
}

export interface LoadOptions {
  pinDir: string;
  /** Node addresses, timeouts, SNAT port range: the read-only config every program gets. */
  config: Config;
  sizes: MapSizes;
  log: Logger;
}

export interface LoadedDatapath {
  tc: TcPrograms;
  xdp: BpfProgram;
  sock: BpfProgram[];
  /** Never attached: the daemon runs them to collect expired conntrack entries (conntrack-gc.ts). */
  ctGc: CtGcPrograms;
  maps: Record<keyof typeof MAP, BpfMap>;
  /** Conntrack maps of another size that were pinned before: their flows go to carryFlows. */
  resizedCt: BpfMap[];
  close(): void;
}

/** Which size each sized map gets; both conntrack maps (IPv4, IPv6) get `ct`. See maxEntries. */
const SIZED: readonly [keyof MapSizes, string][] = [
  ['svc', MAP.svc], ['svcStat', MAP.svcStat], ['backend', MAP.backend], ['backend', MAP.backendNh], ['slots', MAP.slots], ['ct', MAP.ct4], ['ct', MAP.ct],
  ['affinity', MAP.affinity], ['srcRange', MAP.srcRange], ['sock', MAP.sock], ['vip', MAP.vip], ['vip', MAP.extVip],
];

/** max_entries for a size: the slot pool holds SLOTS_PER_ENTRY slots an entry. */
function maxEntries(k: keyof MapSizes, sizes: MapSizes): number {
  return k === 'slots' ? slotEntries(sizes.slots) : sizes[k];
}

/**
 * A pinned map of another size cannot be reused (libbpf refuses the load), so
 * its pin is removed and the map recreated. A conntrack map is kept open
 * instead and returned: its flows are carried into the new map (ct-upgrade.ts),
 * so changing the conntrack size does not reset established connections.
 */
function dropMismatchedPins(pinDir: string, sizes: MapSizes, log: Logger): BpfMap[] {
  const resizedCt: BpfMap[] = [];
  for (const [k, name] of SIZED) {
    const path = join(pinDir, name);
    if (!existsSync(path)) continue;
    let m: BpfMap;
    try {
      m = BpfMap.openPinned(path);
    } catch {
      continue;
    }
    if (m.maxEntries === maxEntries(k, sizes)) {
      m.close();
      continue;
    }
    log.warn('pinned map has another size; recreating it', { map: name, pinned: m.maxEntries, wanted: maxEntries(k, sizes), carriesFlows: k === 'ct' });
    unlinkSync(path);
    if (k === 'ct') resizedCt.push(m);
    else m.close();
  }
  return resizedCt;
}

/** An object opened and configured (sizes, program config), not loaded yet. */
function prepare(name: string, opts: LoadOptions, flags: number, skip: readonly string[] = []): BpfObject {
  const obj = BpfObject.open(bpfObjectPath(name), { pinRoot: opts.pinDir });
  for (const prog of skip) obj.setAutoload(prog, false);
  for (const [k, map] of SIZED) {
    try {
      obj.setMaxEntries(map, maxEntries(k, opts.sizes));
    } catch (e) {
      // Not every object declares every map (the socket object has no conntrack).
      if ((e as { code?: string }).code !== 'ENOENT') throw e;
    }
  }
  obj.setRodata(CONFIG_GLOBAL, encodeConfig({ ...opts.config, flags: (opts.config.flags ?? 0) | flags }));
  return obj;
}

const GC_ITERATORS = ['gc_iter4', 'gc_iter6'] as const;

/** A failed load of ct_gc that its map iterators caused (libbpf's log names them). */
function iteratorsRefused(e: unknown): boolean {
  const text = `${(e as Error).message}\n${(e as { log?: string }).log ?? ''}`;
  return GC_ITERATORS.some((p) => text.includes(p)) || text.includes('bpf_map_elem');
}

/**
 * Loads every program instance the node needs. They share their maps through
 * the pin directory, so a restarted daemon picks up the previous instance's
 * services and flows, and the kernel keeps serving in between.
 *
 * The first object creates and pins the shared maps; the rest reuse the pins and load side by
 * side on the thread pool (each of tc_lb's roles takes the verifier ~0.5 s here; one after
 * another they took ~1.9 s, the first included).
 */
export async function loadDatapath(opts: LoadOptions): Promise<LoadedDatapath> {
  preparePinDir(opts.pinDir);
  const resizedCt = dropMismatchedPins(opts.pinDir, opts.sizes, opts.log);
  const objects: BpfObject[] = [];
  const prepared = (o: BpfObject) => {
    objects.push(o);
    return o;
  };
  try {
    const wire = prepared(prepare('tc_lb', opts, ROLE_FLAGS.wire));
    const host = prepared(prepare('tc_lb', opts, ROLE_FLAGS.host));
    const pods = prepared(prepare('tc_lb', opts, ROLE_FLAGS.pods));
    const xdp = prepared(prepare('xdp_lb', opts, 0));
    const sock = prepared(prepare('sock_lb', opts, 0));
    let gc = prepared(prepare('ct_gc', opts, 0));
    await wire.loadAsync();
    const rest = [host, pods, xdp, sock, gc];
    const results = await Promise.allSettled(rest.map((o) => o.loadAsync()));
    let iterators = true;
    const failures: unknown[] = [];
    for (const [i, r] of results.entries()) {
      if (r.status === 'fulfilled') continue;
      // ct_gc with its map iterators, or without them on a kernel that refuses them (the one-run programs remain).
      if (rest[i] === gc && iteratorsRefused(r.reason)) {
        gc.close();
        gc = prepared(prepare('ct_gc', opts, 0, GC_ITERATORS));
        await gc.loadAsync();
        iterators = false;
        opts.log.warn('conntrack GC: map iterators do not load on this kernel; each pass visits a map in one run', { error: (r.reason as Error).message });
      } else {
        failures.push(r.reason);
      }
    }
    // The first refusal is thrown; the others, usually the same verifier complaint, are said.
    for (const e of failures.slice(1)) opts.log.warn('another BPF object failed to load too', { error: (e as Error).message });
    if (failures.length) throw failures[0];
    const maps = Object.fromEntries(Object.entries(MAP).map(([k, name]) => [k, wire.map(name)])) as Record<keyof typeof MAP, BpfMap>;
    return {
      tc: { wire: wire.program('tc_ingress'), host: host.program('tc_egress'), pods: pods.program('tc_ingress'), toPod: pods.program('tc_to_pod') },
      xdp: xdp.program('xdp_nodeport'),
      sock: sock.programs(),
      ctGc: {
        iter: iterators ? [{ prog: gc.program('gc_iter4'), map: maps.ct4 }, { prog: gc.program('gc_iter6'), map: maps.ct }] : [],
        now: gc.map('ekp_gc_now'),
        run: [gc.program('ct_gc4'), gc.program('ct_gc6')],
      },
      maps,
      resizedCt,
      close: () => objects.forEach((o) => o.close()),
    };
  } catch (e) {
    objects.forEach((o) => o.close());
    resizedCt.forEach((m) => m.close());
    throw e;
  }
}
