import { existsSync } from 'node:fs';
import { native, type NativeObject } from './binding.js';
import { BpfMap } from './map.js';
import { BpfProgram } from './program.js';

/** What the verifier reports for one program it accepted (its log at level 4). */
export interface VerifierStats {
  /** Instructions it processed, of its limit of 1,000,000. */
  insns: number;
  /**
   * Bytes of stack of the program, then of each of its functions in the order the kernel lists
   * them (not a chain of calls); a chain of calls may use 512 in all.
   */
  stackDepth: number[];
}

export interface OpenOptions {
  /**
   * bpffs directory for maps declared with LIBBPF_PIN_BY_NAME: an existing pin
   * of the same name and shape is reused, otherwise the new map is pinned there.
   */
  pinRoot?: string;
}

/**
 * One BPF object file, following libbpf's straight line: open, configure
 * (read-only globals, map sizes), load, then use its maps and programs.
 * close() releases the descriptors; pins and attachments stay.
 */
export class BpfObject {
  readonly path: string;
  private readonly handle: NativeObject;
  private loaded = false;
  private mapsByName = new Map<string, BpfMap>();
  private progsByName = new Map<string, BpfProgram>();

  private constructor(path: string, handle: NativeObject) {
    this.path = path;
    this.handle = handle;
  }

  static open(path: string, opts: OpenOptions = {}): BpfObject {
    if (!existsSync(path)) {
      throw Object.assign(new Error(`BPF object ${path} does not exist (is the build complete? run \`npm run setup\`)`), {
        code: 'ENOENT', errno: 2, syscall: 'open',
      });
    }
    if (opts.pinRoot !== undefined && !existsSync(opts.pinRoot)) {
      throw Object.assign(new Error(`pin directory ${opts.pinRoot} does not exist`), { code: 'ENOENT', errno: 2, syscall: 'stat' });
    }
    const N = native().BpfObject;
    return new BpfObject(path, new N(path, opts.pinRoot ?? null));
  }

  /** Sets a `const volatile` global; the size must match its C type. Before load only. */
  setRodata(name: string, value: Buffer): this {
    this.beforeLoad('setRodata');
    this.handle.setRodata(name, value);
    return this;
  }

  setMaxEntries(map: string, n: number): this {
    this.beforeLoad('setMaxEntries');
    if (!Number.isInteger(n) || n < 1 || n > 0xffffffff) throw new RangeError(`map ${map}: maxEntries must be a positive integer, got ${n}`);
    this.handle.setMaxEntries(map, n);
    return this;
  }

  /** Leaves a program out of the load (e.g. a hook this kernel lacks). */
  setAutoload(program: string, on: boolean): this {
    this.beforeLoad('setAutoload');
    this.handle.setAutoload(program, on);
    return this;
  }

  /**
   * Asks the verifier for its statistics of every program at load (verifierStats()). A failed
   * load then says the verifier's last complaint without its trace: for tests and tools, not
   * the daemon.
   */
  collectVerifierStats(): this {
    this.beforeLoad('collectVerifierStats');
    this.handle.collectVerifierStats();
    return this;
  }

  /** The verifier's statistics of each loaded program, by name, after collectVerifierStats(). */
  verifierStats(): Record<string, VerifierStats> {
    this.afterLoad();
    const out: Record<string, VerifierStats> = {};
    for (const [name, text] of Object.entries(this.handle.verifierStats())) {
      const insns = /processed (\d+) insns/.exec(text);
      const stack = /stack depth ([\d+]+)/.exec(text);
      if (!insns || !stack) throw new Error(`${this.path}: program ${name}: no statistics in the verifier's log: ${JSON.stringify(text)}`);
      out[name] = { insns: Number(insns[1]), stackDepth: stack[1]!.split('+').filter(Boolean).map(Number) };
    }
    return out;
  }

  load(): this {
    this.beforeLoad('load');
    this.handle.load();
    return this.loadedNow();
  }

  /**
   * load() on libuv's thread pool: the event loop runs meanwhile, and objects whose shared maps
   * are already pinned load side by side (one object must create the pins first: two creating
   * the same pin at once collide). Nothing else may be done with this object until it settles.
   */
  async loadAsync(): Promise<this> {
    this.beforeLoad('loadAsync');
    await this.handle.loadAsync();
    return this.loadedNow();
  }

  private loadedNow(): this {
    this.loaded = true;
    for (const m of this.handle.maps()) if (!m.internal) this.mapsByName.set(m.name, new BpfMap(m));
    for (const p of this.handle.programs()) if (p.fd >= 0) this.progsByName.set(p.name, new BpfProgram(p));
    return this;
  }

  map(name: string): BpfMap {
    this.afterLoad();
    const m = this.mapsByName.get(name);
    if (!m) throw Object.assign(new Error(`no map named ${name} in ${this.path} (has: ${[...this.mapsByName.keys()].join(', ')})`), { code: 'ENOENT', map: name });
    return m;
  }

  program(name: string): BpfProgram {
    this.afterLoad();
    const p = this.progsByName.get(name);
    if (!p) throw Object.assign(new Error(`no program named ${name} in ${this.path} (has: ${[...this.progsByName.keys()].join(', ')})`), { code: 'ENOENT', program: name });
    return p;
  }

  maps(): BpfMap[] {
    this.afterLoad();
    return [...this.mapsByName.values()];
  }

  programs(): BpfProgram[] {
    this.afterLoad();
    return [...this.progsByName.values()];
  }

  close(): void {
    this.handle.close();
    this.mapsByName.clear();
    this.progsByName.clear();
  }

  private beforeLoad(op: string): void {
    if (this.loaded) throw new Error(`${this.path}: ${op} must come before load()`);
  }

  private afterLoad(): void {
    if (!this.loaded) throw new Error(`${this.path}: load() first`);
  }
}
