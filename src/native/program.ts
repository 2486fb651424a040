import { native, type NativeProgramDescriptor, type NativeTestRunResult } from './binding.js';
import type { BpfMap } from './map.js';
import { annotate, naming } from './errors.js';

export interface TestRunOptions {
  /** The packet (Ethernet frame for tc and XDP programs). */
  data: Buffer;
  /** Times the kernel runs the program; durationNs is the mean per run. */
  repeat?: number;
  /** Room for the output packet; defaults to the input plus 256 bytes (encapsulation, ICMP replies). */
  dataOutSize?: number;
  /** Context passed in (struct __sk_buff or xdp_md), e.g. to set ifindex or mark. */
  ctx?: Buffer;
  ctxOutSize?: number;
  flags?: number;
}

export interface TestRunResult {
  retval: number;
  data: Buffer;
  ctx: Buffer;
  durationNs: number;
}

/** A loaded program. Its fd closes with the object it came from. */
export class BpfProgram {
  readonly name: string;
  readonly fd: number;
  readonly type: number;
  readonly expectedAttachType: number;
  readonly section: string;

  constructor(d: NativeProgramDescriptor) {
    this.name = d.name;
    this.fd = d.fd;
    this.type = d.type;
    this.expectedAttachType = d.expectedAttachType;
    this.section = d.section;
  }

  /** The kernel's id for this program (what bpftool and attach queries show). */
  id(): number {
    return naming({ program: this.name }, () => native().progIdByFd(this.fd));
  }

  /** Runs the program once (or `repeat` times) on a packet via BPF_PROG_TEST_RUN. */
  testRun(opts: TestRunOptions): TestRunResult {
    const a = this.runArgs(opts);
    return naming({ program: this.name }, () => tidy(native().testRun(...a)));
  }

  /** Same, off the JavaScript thread: for long repeats in benchmarks. */
  async testRunAsync(opts: TestRunOptions): Promise<TestRunResult> {
    const a = this.runArgs(opts);
    try {
      return tidy(await native().testRunAsync(...a));
    } catch (e) {
      throw annotate(e, { program: this.name });
    }
  }

  /**
   * Runs this iter/bpf_map_elem program over every element of `map` and returns all it wrote,
   * read `readBytes` at a time: the kernel ends a stretch of the pass at every read. The pass runs
   * off the JavaScript thread.
   */
  async iterateMap(map: BpfMap, readBytes = 4096): Promise<Buffer> {
    if (!Number.isInteger(readBytes) || readBytes < 1 || readBytes > 1 << 20) {
      throw new RangeError(`program ${this.name}: readBytes must be 1..1048576, got ${readBytes}`);
    }
    try {
      return await native().mapIterRead(this.fd, map.fd, readBytes);
    } catch (e) {
      throw annotate(e, { program: this.name, map: map.name });
    }
  }

  private runArgs(opts: TestRunOptions): [number, Buffer, number, number, Buffer | null, number, number] {
    if (!Buffer.isBuffer(opts.data)) throw new TypeError(`program ${this.name}: testRun data must be a Buffer`);
    const repeat = opts.repeat ?? 1;
    if (!Number.isInteger(repeat) || repeat < 1 || repeat > 0xffffffff) {
      throw new RangeError(`program ${this.name}: repeat must be a positive integer, got ${repeat}`);
    }
    const outSize = opts.dataOutSize ?? opts.data.length + 256;
    if (!Number.isInteger(outSize) || outSize < 0) throw new RangeError(`program ${this.name}: bad dataOutSize ${outSize}`);
    const ctx = opts.ctx ?? null;
    const ctxOut = opts.ctxOutSize ?? (ctx ? ctx.length : 0);
    return [this.fd, opts.data, outSize, repeat, ctx, ctxOut, opts.flags ?? 0];
  }
}

function tidy(r: NativeTestRunResult): TestRunResult {
  return { retval: r.retval, data: r.data, ctx: r.ctx, durationNs: r.durationNs };
}
