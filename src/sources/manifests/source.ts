import { readdirSync, readFileSync, statSync, watch, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import { OBJECT_KINDS, type Source, type SourceSink } from '../types.js';
import { parseManifest, type ManifestObject } from './parse.js';

export interface ManifestSourceOptions {
  dir: string;
  /** Safety net under inotify (which misses some editors' renames and network filesystems). */
  pollIntervalMs?: number;
  /** Quiet time after a file event before re-reading, so an editor's save-in-steps reads once. */
  debounceMs?: number;
}

const MANIFEST = /\.(ya?ml|json)$/;

interface FileState {
  text: string;
  objects: readonly ManifestObject[];
  /** Set when the text was read after the file settled: while the stat is this, the read is skipped. */
  stat: { key: string; readAtMs: number } | null;
}

/**
 * A file's timestamps are kernel-tick coarse, so a second write within the tick of a read
 * can leave them as they were (git's "racy" files). A file's stat is trusted to stand for
 * its text only once its last change is this much older than the read.
 */
const SETTLED_NS = 2_000_000_000n;
/**
 * A settled file is still read this often: on NFS a stat can answer from the attribute cache for
 * up to a minute, while opening the file revalidates it. Reading an unchanged file costs the read
 * and one string comparison, no parse.
 */
const REREAD_MS = 30_000;

function statKey(path: string): { key: string; changedNs: bigint } | null {
  try {
    const s = statSync(path, { bigint: true });
    return { key: `${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`, changedNs: s.mtimeNs > s.ctimeNs ? s.mtimeNs : s.ctimeNs };
  } catch {
    return null;
  }
}

/**
 * A directory of Service, EndpointSlice and Node manifests as `kubectl get -o
 * yaml` prints them. Any change re-reads the directory and reports the
 * difference. A file that fails to parse keeps the objects it last had: a
 * half-saved file must not take its Services down.
 */
export class ManifestSource implements Source {
  private readonly opts: Required<ManifestSourceOptions>;
  private sink: SourceSink | null = null;
  private watcher: FSWatcher | null = null;
  private poller: NodeJS.Timeout | null = null;
  private debounce: NodeJS.Timeout | null = null;
  private current = new Map<string, ManifestObject>();
  private serialized = new Map<string, string>();
  /** Per file: its last text, the objects it last had (kept through a broken save), and its stat. */
  private files = new Map<string, FileState>();
  private reported = new Map<string, string>();

  constructor(opts: ManifestSourceOptions) {
    this.opts = { pollIntervalMs: 1000, debounceMs: 50, ...opts };
  }

  async start(sink: SourceSink): Promise<void> {
    this.sink = sink;
    this.rescan();
    for (const kind of OBJECT_KINDS) sink.synced(kind);
    try {
      this.watcher = watch(this.opts.dir, () => this.schedule());
      this.watcher.on('error', (e) => sink.problem(null, `watching ${this.opts.dir}: ${e.message}; polling only`));
    } catch (e) {
      sink.problem(null, `cannot watch ${this.opts.dir}: ${(e as Error).message}; polling only`);
    }
    this.poller = setInterval(() => this.rescan(), this.opts.pollIntervalMs);
    this.poller.unref();
  }

  async stop(): Promise<void> {
    this.watcher?.close();
    if (this.poller) clearInterval(this.poller);
    if (this.debounce) clearTimeout(this.debounce);
    this.watcher = this.poller = this.debounce = null;
    this.sink = null;
  }

  private schedule(): void {
    if (this.debounce) clearTimeout(this.debounce);
    this.debounce = setTimeout(() => {
      this.debounce = null;
      this.rescan();
    }, this.opts.debounceMs);
  }

  /**
   * Reads every manifest and reports the differences. A file whose stat has not moved since
   * it was read settled is not read again (for REREAD_MS), and its objects (the same
   * instances) are not compared again: the poll runs every second, and with 10,000 Services
   * re-reading and re-serializing everything took 183 ms of CPU per poll on an idle node.
   */
  rescan(): void {
    const sink = this.sink;
    if (!sink) return;
    let files: string[];
    try {
      files = readdirSync(this.opts.dir).filter((f) => MANIFEST.test(f)).sort();
    } catch (e) {
      sink.problem(null, `cannot read ${this.opts.dir}: ${(e as Error).message}`);
      return;
    }
    const seen = new Set(files);
    const contributing: [string, readonly ManifestObject[]][] = [];
    // Whether any file's objects may differ from what the last scan reported.
    let dirty = false;
    for (const file of files) {
      const path = join(this.opts.dir, file);
      const stat = statKey(path);
      const known = this.files.get(file);
      const nowMs = Date.now();
      if (stat && known?.stat?.key === stat.key && nowMs - known.stat.readAtMs < REREAD_MS) {
        contributing.push([file, known.objects]);
        continue;
      }
      let text: string;
      try {
        text = readFileSync(path, 'utf8');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
          // Removed between readdir and read: its objects go now, and a file that is back is parsed anew.
          dirty = true;
          this.files.delete(file);
        } else {
          // Unreadable for now (EIO, EACCES …): as with a broken save, its last objects stay.
          this.tell(`${file}:read`, [`cannot read ${file}: ${(e as Error).message}; keeping its last good objects`]);
          if (known) {
            known.stat = null;
            contributing.push([file, known.objects]);
          }
        }
        continue;
      }
      this.tell(`${file}:read`, []);
      const settled = stat && stat.changedNs + SETTLED_NS < BigInt(nowMs) * 1_000_000n ? { key: stat.key, readAtMs: nowMs } : null;
      let state = known;
      if (!state || text !== state.text) {
        dirty = true;
        const parsed = parseManifest(text, file);
        this.tell(file, parsed.problems);
        // A file with YAML errors, or with problems and no usable object, is mid-edit: it keeps what
        // it had, all of it (a typo in a slice's document must not take its Service's endpoints away).
        const midEdit = parsed.broken || (parsed.objects.length === 0 && parsed.problems.length > 0);
        const objects = midEdit && known ? known.objects : parsed.objects;
        state = { text, objects, stat: null };
        this.files.set(file, state);
      }
      state.stat = settled;
      contributing.push([file, state.objects]);
    }
    for (const file of [...this.files.keys()]) {
      if (!seen.has(file)) {
        dirty = true;
        this.files.delete(file);
      }
    }
    if (!dirty) return;
    const next = new Map<string, ManifestObject>();
    for (const [file, objects] of contributing) {
      for (const o of objects) {
        const id = `${o.kind}/${o.key}`;
        if (next.has(id)) this.tell(`${file}:${id}`, [`${file}: ${o.kind} ${o.key} is defined more than once; the first one counts`]);
        else next.set(id, o);
      }
    }
    this.diff(next, sink);
  }

  private diff(next: Map<string, ManifestObject>, sink: SourceSink): void {
    for (const [id, o] of next) {
      if (this.current.get(id) === o) continue; // from a file not parsed again
      const text = JSON.stringify(o.object);
      if (this.serialized.get(id) === text) continue;
      sink.changed({ kind: o.kind, key: o.key, previous: this.current.get(id)?.object ?? null, current: o.object });
      this.serialized.set(id, text);
    }
    for (const [id, o] of this.current) {
      if (next.has(id)) continue;
      sink.changed({ kind: o.kind, key: o.key, previous: o.object, current: null });
      this.serialized.delete(id);
    }
    this.current = next;
  }

  /** Reports a file's problems once, until they change. */
  private tell(where: string, problems: string[]): void {
    const text = problems.join('\n');
    if (this.reported.get(where) === text) return;
    this.reported.set(where, text);
    for (const p of problems) this.sink?.problem(null, p);
  }
}
