// Table-driven datapath cases, Katran/Cilium style: each case states its map state
// (written with the TypeScript codec), then one or more steps of
// {input packet, expected verdict, expected output packet, expected counters},
// run through BPF_PROG_TEST_RUN over the same maps, so multi-step cases follow a
// flow (SYN creates CT -> reply reverse-NATed -> ...).
import { expect } from 'vitest';
import type { Config, DropReason, EventName } from '../../src/dataplane/ebpf/abi.js';
import { buildPacket, describePacket, packetDiff, parsePacket, type PacketSpec, type ParsedPacket } from '../support/packet.js';
import { counterDelta, type Datapath, type ProgName } from './datapath.js';

export interface Step {
  /** What should happen, in one line (shown when the step fails). */
  what: string;
  prog: ProgName;
  config: Config;
  /** A function when the packet depends on an earlier step's output (e.g. a SNAT port). */
  in: PacketSpec | Buffer | (() => PacketSpec);
  verdict: number;
  /**
   * Expected output frame: a spec or bytes, 'unchanged' (byte-identical to the input),
   * or a function of the parsed actual output for values the datapath picks at random
   * (SNAT ports) — the function must still pin every other field.
   */
  out?: PacketSpec | Buffer | 'unchanged' | ((got: ParsedPacket) => PacketSpec);
  /** Exact drop counter deltas (unlisted reasons must stay unchanged). Default: none. */
  drops?: Partial<Record<DropReason, number>>;
  /** Event counter deltas for the listed events only. */
  events?: Partial<Record<EventName, number>>;
  /** Per-service packet counter deltas. */
  svc?: Record<number, number>;
  /** tc only: the device the packet arrived on (__sk_buff.ingress_ifindex); 0, the default, is a host-originated packet. */
  ingressIfindex?: number;
  /** Extra assertions on the datapath after the step. */
  check?: (dp: Datapath, got: ParsedPacket | null) => void;
}

export interface Case {
  name: string;
  setup?: (dp: Datapath) => void;
  steps: Step[];
}

function frame(x: PacketSpec | Buffer | (() => PacketSpec)): Buffer {
  if (typeof x === 'function') return buildPacket(x());
  return Buffer.isBuffer(x) ? x : buildPacket(x);
}

function tryParse(b: Buffer): ParsedPacket | null {
  try {
    return parsePacket(b);
  } catch {
    return null;
  }
}

export function runStep(dp: Datapath, step: Step, label: string): void {
  const input = frame(step.in);
  const prog = dp.program(step.prog, step.config);
  const svcBefore = Object.fromEntries(Object.keys(step.svc ?? {}).map((id) => [id, dp.svcPackets(Number(id))]));
  const before = dp.counters();
  const r = prog.testRun({ data: input, ...(step.ingressIfindex ? { ctx: skbCtx(step.ingressIfindex) } : {}) });
  const after = dp.counters();
  const { frame: out, xlated } = splitXdpMeta(step.prog, input, r.data);
  const got = tryParse(out);
  const ctx = `${label}: ${step.what}\n  in:  ${describeFrame(input)}\n  out: ${describeFrame(out)}`;

  expect(r.retval, `${ctx}\n  verdict`).toBe(step.verdict);
  if (step.prog === 'xdp_nodeport' && step.verdict === XDP_PASS) {
    // tc_ingress skips exactly the packets XDP translated: the hint must be there iff the packet changed.
    expect(xlated, `${ctx}\n  XDP's "translated" metadata`).toBe(!out.equals(input));
  }
  if (step.out !== undefined) {
    let want: Buffer;
    if (step.out === 'unchanged') want = input;
    else if (typeof step.out === 'function') {
      expect(got, `${ctx}\n  output does not parse`).not.toBeNull();
      want = buildPacket(step.out(got!));
    } else want = frame(step.out);
    const diff = packetDiff(out, want);
    expect(diff, `${ctx}\n  want: ${describeFrame(want)}\n  diff`).toBe('');
  }
  const delta = counterDelta(before, after);
  expect(delta.drops, `${ctx}\n  drop counters`).toEqual(step.drops ?? {});
  for (const [ev, n] of Object.entries(step.events ?? {})) {
    expect(delta.events[ev as EventName] ?? 0, `${ctx}\n  event ${ev}`).toBe(n);
  }
  for (const [id, n] of Object.entries(step.svc ?? {})) {
    expect(Number(dp.svcPackets(Number(id)) - svcBefore[id]!), `${ctx}\n  svc ${id} packets`).toBe(n);
  }
  step.check?.(dp, got);
}

const XDP_PASS = 2;
/** EKP_META_XLATED (bpf/lib/common.h), as the host stores it. */
const META_XLATED = 0x656b7058;

/** XDP test-run output starts at the metadata: split off the word xdp_lb leaves for tc. */
export function splitXdpMeta(prog: ProgName, input: Buffer, data: Buffer): { frame: Buffer; xlated: boolean } {
  if (prog === 'xdp_nodeport' && data.length === input.length + 4 && data.readUInt32LE(0) === META_XLATED) return { frame: data.subarray(4), xlated: true };
  return { frame: data, xlated: false };
}

/**
 * A struct __sk_buff for BPF_PROG_TEST_RUN: test-run accepts ingress_ifindex (offset 36 of
 * 192 bytes), ifindex (40), the device the packet is on, which must exist in the caller's
 * namespace (unset: lo), and a GSO size.
 */
export function skbCtx(ingressIfindex: number, ifindex = 0, gsoSize = 0): Buffer {
  const b = Buffer.alloc(192);
  b.writeUInt32LE(ingressIfindex, 36);
  b.writeUInt32LE(ifindex, 40);
  if (gsoSize) {
    b.writeUInt32LE(2, 164); // gso_segs
    b.writeUInt32LE(gsoSize, 176); // gso_size
  }
  return b;
}

/** BPF_F_TEST_SKB_CHECKSUM_COMPLETE, linux/bpf.h: the test run sets skb->csum to the packet's sum (6.11+). */
export const TEST_SKB_CHECKSUM_COMPLETE = 1 << 2;

export function runCase(dp: Datapath, c: Case): void {
  dp.reset();
  c.setup?.(dp);
  c.steps.forEach((s, i) => runStep(dp, s, `${c.name} [step ${i + 1}/${c.steps.length}]`));
}

function describeFrame(b: Buffer): string {
  const p = tryParse(b);
  return p ? `${describePacket(p)} (${b.length} B)` : `<unparsed ${b.length} B>`;
}
