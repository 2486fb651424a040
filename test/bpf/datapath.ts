// Test harness for the eBPF datapath: loads program instances (one per read-only
// config) that share their maps through a private bpffs, fills the maps with the
// TypeScript codec, and runs packets through BPF_PROG_TEST_RUN.
import { afterAll, beforeAll } from 'vitest';
import { BpfObject, bpfObjectPath, enterNetns, type BpfMap, type BpfProgram } from '../../src/native/index.js';
import { mountPrivateBpffs, type PrivateBpffs } from '../support/bpffs.js';
import { TestNetns } from '../support/netns.js';
import {
  CFG_F, CONFIG_GLOBAL, DROP_REASONS, EVENTS, MAP, ctMapOf, encodeBackendVal, encodeConfig, encodeCtKey, encodeCtVal, encodeSlotRegion,
  decodeAddr, encodeSrcRangeKey, encodeSrcRangeVal, encodeSvcCidrKey, encodeSvcKey, encodeSvcVal, encodeU32, encodeVipKey, encodeVipNet, sumPerCpuCounter,
  FREE_BACKEND, LAYOUT, SIZE, SVCCIDR_PREFIX_BASE,
  type BackendVal, type Config, type CtKey, type CtVal, type DropReason, type EventName, type SvcKey, type VipNet,
} from '../../src/dataplane/ebpf/abi.js';
import { cidrBounds, commonPrefix } from '../../src/dataplane/ebpf/cluster-ips.js';
import { kernelConfigFlags } from '../../src/dataplane/ebpf/kernel.js';

export type ProgName = 'tc_ingress' | 'tc_egress' | 'tc_to_pod' | 'xdp_nodeport';

const OBJECT_OF: Record<ProgName, string> = { tc_ingress: 'tc_lb', tc_egress: 'tc_lb', tc_to_pod: 'tc_lb', xdp_nodeport: 'xdp_lb' };

export interface ServiceSpec {
  frontend: SvcKey;
  svcId: number;
  /** Backend ids in slot order (a random list, or a Maglev LUT with MAGLEV set). */
  slots: number[];
  flags?: number;
  affinityTimeoutS?: number;
}

export interface Counters {
  drops: Record<DropReason, bigint>;
  events: Record<EventName, bigint>;
}

/** Verdicts as the tests name them. */
export const TC = { pass: 0, drop: 2, redirect: 7 } as const;
export const XDP = { drop: 1, pass: 2, tx: 3 } as const;

export class Datapath {
  private readonly objects = new Map<string, BpfObject>();
  private nextSlot = 0;
  /** Backend ids ever set: tc may have kept a next hop for each (ekp_benh_v1). */
  private readonly backendIds = new Set<number>();

  constructor(readonly pinRoot: string) {}

  /** A program instance for this config; instances with equal configs are reused. */
  program(name: ProgName, config: Config = {}): BpfProgram {
    const objName = OBJECT_OF[name];
    const id = `${objName}:${JSON.stringify(config)}`;
    let obj = this.objects.get(id);
    if (!obj) {
      obj = BpfObject.open(bpfObjectPath(objName), { pinRoot: this.pinRoot });
      // What the daemon adds on this kernel for the checksum path (load-config.ts), so the
      // cases run the code the daemon runs here; the VM's 6.1 runs them on the helpers.
      obj.setRodata(CONFIG_GLOBAL, encodeConfig({ ...config, flags: (config.flags ?? 0) | (kernelConfigFlags() & CFG_F.KERN_CTX) }));
      obj.load();
      this.objects.set(id, obj);
    }
    return obj.program(name);
  }

  map(name: string): BpfMap {
    if (this.objects.size === 0) this.program('tc_ingress');
    return this.objects.values().next().value!.map(name);
  }

  setBackend(id: number, v: BackendVal | null): void {
    this.backendIds.add(id);
    this.map(MAP.backend).update(encodeU32(id), v ? encodeBackendVal(v) : FREE_BACKEND);
  }

  /** Writes a fresh slot region, then points the service at it. */
  setService(s: ServiceSpec): { slotOff: number } {
    const slotOff = this.nextSlot;
    // Regions start at an even slot: the pool stores two per entry.
    this.nextSlot += Math.ceil(Math.max(1, s.slots.length) / 2) * 2;
    if (s.slots.length > 0) {
      const { keys, values } = encodeSlotRegion(slotOff, s.slots);
      this.map(MAP.slots).updateBatch(keys, values);
    }
    this.map(MAP.svc).update(encodeSvcKey(s.frontend), encodeSvcVal({
      svcId: s.svcId, slotOff, slotLen: s.slots.length, flags: s.flags ?? 0, affinityTimeoutS: s.affinityTimeoutS ?? 0,
    }));
    return { slotOff };
  }

  deleteService(k: SvcKey): boolean {
    return this.map(MAP.svc).delete(encodeSvcKey(k));
  }

  /**
   * Marks addr a ClusterIP (ekp_vip_v1): its ports no service has are refused. The prefix the
   * datapath looks inside (ekp_vipnet_v1) is the ClusterIPs' common one, as the daemon writes it,
   * or `net` when given.
   */
  setClusterIp(addr: string, net?: { v4: VipNet | null; v6: VipNet | null }): void {
    this.map(MAP.vip).update(encodeVipKey(addr), encodeU32(1));
    const keys = [...this.map(MAP.vip).entries()].map(([k]) => k);
    const of = (family: number) => commonPrefix(keys.filter((k) => k[LAYOUT.ekp_vip_key.fields.family.offset] === family));
    this.map(MAP.vipNet).update(encodeU32(0), net ? encodeVipNet(net.v4, net.v6) : encodeVipNet(of(4), of(6)));
  }

  /**
   * Adds a Service CIDR (ekp_svccidr_v1): its addresses no service has are dropped. The prefix the
   * datapath looks inside widens to hold it, as the daemon writes it.
   */
  setServiceCidr(cidr: string): void {
    this.map(MAP.svcCidr).update(encodeSvcCidrKey(cidr), encodeU32(0));
    const keys = [...this.map(MAP.vip).entries()].map(([k]) => k);
    for (const [k] of this.map(MAP.svcCidr).entries()) {
      const fam = k[LAYOUT.ekp_svccidr_key.fields.family.offset]!;
      const bits = k.readUInt32LE(0) - SVCCIDR_PREFIX_BASE;
      keys.push(...cidrBounds(`${decodeAddr(k.subarray(LAYOUT.ekp_svccidr_key.fields.addr.offset), fam as 4 | 6)}/${bits}`));
    }
    const of = (family: number) => commonPrefix(keys.filter((k) => k[LAYOUT.ekp_vip_key.fields.family.offset] === family));
    this.map(MAP.vipNet).update(encodeU32(0), encodeVipNet(of(4), of(6)));
  }

  /** Marks addr an ExternalIP or LoadBalancer IP (ekp_extvip_v1): its pings are answered. */
  setExternalIp(addr: string): void {
    this.map(MAP.extVip).update(encodeVipKey(addr), encodeU32(1));
  }

  allowSourceRange(svcId: number, cidr: string): void {
    this.map(MAP.srcRange).update(encodeSrcRangeKey(svcId, cidr), encodeSrcRangeVal(true));
  }

  /** Writes a conntrack entry into its family's map (the key's addresses say which). */
  putFlow(key: CtKey, val: CtVal): void {
    this.map(ctMapOf(key.saddr.includes(':') ? 6 : 4)).update(encodeCtKey(key), encodeCtVal(val));
  }

  /** Empties the flow state (conntrack, affinity) between cases. */
  clearFlows(): void {
    for (const name of [MAP.ct4, MAP.ct, MAP.affinity]) {
      const m = this.map(name);
      for (const [k] of [...m.entries()]) m.delete(k);
    }
  }

  /** Removes all services, backends, source ranges and flows. */
  reset(): void {
    this.clearFlows();
    this.map(MAP.vipNet).update(encodeU32(0), encodeVipNet(null, null));
    for (const name of [MAP.svc, MAP.srcRange, MAP.vip, MAP.svcCidr, MAP.extVip]) {
      const m = this.map(name);
      for (const [k] of [...m.entries()]) m.delete(k);
    }
    const nh = this.map(MAP.backendNh);
    for (const id of this.backendIds) nh.update(encodeU32(id), Buffer.alloc(SIZE.ekp_backend_nh));
    this.nextSlot = 0;
  }

  counters(): Counters {
    const read = <T extends string>(map: string, names: readonly T[]): Record<T, bigint> => {
      const m = this.map(map);
      const out = {} as Record<T, bigint>;
      names.forEach((n, i) => {
        const v = m.lookup(encodeU32(i));
        out[n] = v ? sumPerCpuCounter(v).packets : 0n;
      });
      return out;
    };
    return { drops: read(MAP.drop, DROP_REASONS), events: read(MAP.event, EVENTS) };
  }

  svcPackets(svcId: number): bigint {
    const v = this.map(MAP.svcStat).lookup(encodeU32(svcId));
    return v ? sumPerCpuCounter(v).packets : 0n;
  }

  close(): void {
    for (const o of this.objects.values()) o.close();
    this.objects.clear();
  }
}

/** Non-zero differences between two counter snapshots, as "name: +n" maps. */
export function counterDelta(before: Counters, after: Counters): { drops: Partial<Record<DropReason, number>>; events: Partial<Record<EventName, number>> } {
  const d = <T extends string>(a: Record<T, bigint>, b: Record<T, bigint>): Partial<Record<T, number>> => {
    const out: Partial<Record<T, number>> = {};
    for (const k of Object.keys(b) as T[]) {
      const n = Number(b[k] - a[k]);
      if (n !== 0) out[k] = n;
    }
    return out;
  };
  return { drops: d(before.drops, after.drops), events: d(before.events, after.events) };
}

/**
 * A Datapath on a private bpffs for the enclosing describe block, closed and
 * unmounted after it; tests read `fx.dp`.
 */
export function datapathFixture(): { readonly dp: Datapath; readonly fs?: PrivateBpffs } {
  const fx = {} as { dp: Datapath; fs?: PrivateBpffs };
  let ns: TestNetns | undefined;
  let leave: (() => void) | undefined;
  beforeAll(() => {
    if (process.getuid?.() !== 0) return;
    fx.fs = mountPrivateBpffs();
    fx.dp = new Datapath(fx.fs.path);
    // The test runs happen in a namespace with nothing but lo, where tc's FIB lookups
    // find no route: in the machine's own, forwarding on and a default route (a host of
    // containers) would have tc redirect what the tables expect it to pass. A test that
    // wants routes runs in a namespace of its own (withNetns).
    ns = TestNetns.create('dp');
    leave = enterNetns(ns.path);
  });
  afterAll(() => {
    leave?.();
    ns?.destroy();
    fx.dp?.close();
    fx.fs?.dispose();
  });
  return fx;
}
