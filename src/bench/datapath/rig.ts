// Kernel side of the datapath benchmark: a private bpffs, program instances that
// share their maps through it, and the kernel memory of those maps.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CONFIG_GLOBAL, MAP, encodeConfig, type Config, type MapName } from '../../dataplane/ebpf/abi.js';
import { BpfObject, bpfObjectPath, type BpfMap, type BpfProgram } from '../../native/index.js';

export type Sizes = Partial<Record<MapName, number>>;

function sh(argv: string[]): { ok: boolean; err: string } {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: 30_000 });
  return { ok: !r.error && r.status === 0, err: (r.stderr || String(r.error ?? '')).trim() };
}

/** A bpffs mounted on a fresh temp dir; dispose() unmounts and removes it. */
export class PrivateBpffs {
  private disposed = false;

  private constructor(readonly path: string) {}

  static mount(): PrivateBpffs {
    const path = mkdtempSync(join(tmpdir(), 'ekp-bench-bpffs-'));
    const r = sh(['mount', '-t', 'bpf', 'bpf', path]);
    if (!r.ok) {
      rmSync(path, { recursive: true, force: true });
      throw new Error(`mount -t bpf on ${path} failed: ${r.err} (the benchmark needs root)`);
    }
    return new PrivateBpffs(path);
  }

  /** A sub-directory: its own set of pinned maps. */
  dir(name: string): string {
    const d = join(this.path, name);
    mkdirSync(d, { recursive: true });
    return d;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    sh(['umount', this.path]);
    rmSync(this.path, { recursive: true, force: true });
  }
}

/**
 * Loads one object with the given read-only config and map sizes, pinning its maps
 * by name under pinRoot (so every object loaded with the same pinRoot shares them).
 */
export function loadObject(name: string, pinRoot: string, config: Config, sizes: Sizes): BpfObject {
  const obj = BpfObject.open(bpfObjectPath(name), { pinRoot });
  try {
    for (const [map, n] of Object.entries(sizes) as [MapName, number][]) {
      try {
        obj.setMaxEntries(map, n);
      } catch (e) {
        if ((e as { code?: string }).code !== 'ENOENT') throw e;
      }
    }
    try {
      obj.setRodata(CONFIG_GLOBAL, encodeConfig(config));
    } catch (e) {
      if ((e as { code?: string }).code !== 'ENOENT') throw e; // xdp_floor has no config
    }
    return obj.load();
  } catch (e) {
    obj.close();
    throw e;
  }
}

export interface Objects {
  close(): void;
  map(name: MapName): BpfMap;
  /** A map of one object that is not shared through the pin directory. */
  ownMap(object: string, name: string): BpfMap;
  prog(object: string, name: string): BpfProgram;
}

/** Several objects over one pin directory; maps come from the first. */
export function loadObjects(pinRoot: string, specs: { object: string; config: Config }[], sizes: Sizes): Objects {
  const loaded: { object: string; obj: BpfObject }[] = [];
  try {
    for (const s of specs) loaded.push({ object: s.object, obj: loadObject(s.object, pinRoot, s.config, sizes) });
  } catch (e) {
    loaded.forEach((l) => l.obj.close());
    throw e;
  }
  const find = (object: string) => {
    const l = loaded.find((x) => x.object === object);
    if (!l) throw new Error(`bench: object ${object} not loaded`);
    return l.obj;
  };
  return {
    close: () => loaded.forEach((l) => l.obj.close()),
    map: (name) => loaded[0]!.obj.map(name),
    ownMap: (object, name) => find(object).map(name),
    prog: (object, name) => find(object).program(name),
  };
}

/** The kernel's accounting of a map's memory: the `memlock:` line of its fdinfo. */
export function mapMemlock(fd: number): number {
  const text = readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8');
  const m = /^memlock:\s*(\d+)/m.exec(text);
  if (!m) throw new Error(`no memlock line in /proc/self/fdinfo/${fd}`);
  return Number(m[1]);
}

/** memlock of every datapath map, by name, plus "total". */
export function datapathMapBytes(objects: Objects): Record<string, number> {
  const out: Record<string, number> = {};
  let total = 0;
  for (const name of Object.values(MAP)) {
    const n = mapMemlock(objects.map(name).fd);
    out[name] = n;
    total += n;
  }
  out.total = total;
  return out;
}
