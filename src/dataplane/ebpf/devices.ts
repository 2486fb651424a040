import { spawnSync } from 'node:child_process';
import {
  attachTc, attachXdp, detachTc, detachXdp, LinkWatch, queryTc, queryXdp, native, type BpfProgram,
} from '../../native/index.js';
import type { Logger } from '../../observe/index.js';
import type { TcPrograms } from './loader.js';

export interface Device {
  name: string;
  ifindex: number;
  /** Has a global address: a node device (NodePorts, external traffic, host egress). */
  node: boolean;
  /** The link kind for virtual devices (veth, bridge, vxlan…); absent for a NIC. */
  kind?: string;
  /** lo: how the node reaches its own addresses (a NodePort here, a host-network backend here). */
  loopback?: true;
  /**
   * A port of a node device (a bond's NIC, the NIC of a bridge holding the node's address): its
   * master is where the node's traffic is seen, so nothing of ours goes here. Taken for a pod's
   * device, it would treat the outside world as pods.
   */
  uplinkPort?: true;
}

/** A link as `ip -d -j addr show` lists it. */
export interface ListedLink {
  ifname: string;
  ifindex: number;
  master?: string;
  /** A stacked device's lower one (a veth's peer, for a veth). */
  link?: string;
  addr_info?: { scope: string }[];
  linkinfo?: { info_kind?: string; info_slave_kind?: string };
}

export type XdpPolicy = 'auto' | 'on' | 'off';

/**
 * Whether a node device gets XDP. A veth hands its peer skbs: XDP there converts each back
 * into a buffer, copying the ones TCP cloned, and then the stack builds an skb again; tc
 * alone is cheaper (lab benchmark, 1 service, XDP on the node's veth vs none: new connections
 * 0.78-0.83x vs 0.90-0.94x of direct). A NIC hands XDP its own buffers: that is the fast path.
 */
export function wantsXdp(d: Device, policy: XdpPolicy): boolean {
  if (!d.node || policy === 'off') return false;
  return policy === 'on' || d.kind !== 'veth';
}

/** Interfaces of this network namespace, from `ip -d -j addr`. */
export function listDevices(nodeDevices: readonly string[] | null): Device[] {
  const r = spawnSync('ip', ['-d', '-j', 'addr', 'show'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip -d -j addr show: ${r.stderr || r.error?.message}`);
  return classifyDevices(JSON.parse(r.stdout) as ListedLink[], nodeDevices);
}

/** Virtual devices whose port of a bridge is a guest's own (a pod's veth, a VM's tap), not an uplink. */
const GUEST_KINDS = new Set(['veth', 'tun', 'tap', 'macvtap', 'ipvtap', 'netkit']);
/** Devices stacked on a lower one (`link`); a veth's `link` is its peer instead. */
const STACKED_KINDS = new Set(['vlan', 'macvlan', 'ipvlan']);

/**
 * Node devices: --devices, else every one with a global address. Below a node device, and below
 * those, the devices that carry its traffic are uplink ports: a bond's or team's slaves, a
 * bridge's ports that are not a guest's (a NIC, a VLAN or macvlan of one; not a pod's veth or a
 * VM's tap), the lower device of a VLAN, macvlan or ipvlan (bond0 under vmbr0, eno1 under
 * bond0, eth0 under eth0.100), and an Open vSwitch port that is not a guest's when an OVS bridge
 * holds a node address (eno1 of br-ex: every OVS port's master is ovs-system, whichever bridge
 * it is in). Every other device is taken as pod-facing: cni0's veths among them. VRF members
 * are not recognised.
 */
export function classifyDevices(links: readonly ListedLink[], nodeDevices: readonly string[] | null): Device[] {
  const isNode = (l: ListedLink) => (nodeDevices ? nodeDevices.includes(l.ifname) : (l.addr_info ?? []).some((a) => a.scope === 'global'));
  const byName = new Map(links.map((l) => [l.ifname, l]));
  const carriers = new Set(links.filter(isNode).map((l) => l.ifname));
  const ovsNode = links.some((l) => isNode(l) && l.linkinfo?.info_kind === 'openvswitch');
  const uplinks = new Set<string>();
  // Down the stack until nothing changes: eno1 is an uplink port because bond0 is, because vmbr0 is the node's.
  for (let changed = true; changed;) {
    changed = false;
    const mark = (name: string | undefined) => {
      if (name === undefined || carriers.has(name) || !byName.has(name)) return;
      carriers.add(name);
      uplinks.add(name);
      changed = true;
    };
    for (const l of links) {
      const kind = l.linkinfo?.info_kind ?? '';
      const slave = l.linkinfo?.info_slave_kind;
      if (l.master !== undefined && carriers.has(l.master) && (slave === 'bond' || slave === 'team' || (slave === 'bridge' && !GUEST_KINDS.has(kind)))) mark(l.ifname);
      if (STACKED_KINDS.has(kind) && carriers.has(l.ifname)) mark(l.link);
      if (ovsNode && slave === 'openvswitch' && !GUEST_KINDS.has(kind)) mark(l.ifname);
    }
  }
  return links.map((l): Device => {
    if (l.ifname === 'lo') return { name: l.ifname, ifindex: l.ifindex, node: false, loopback: true };
    const d: Device = { name: l.ifname, ifindex: l.ifindex, node: isNode(l), ...(l.linkinfo?.info_kind ? { kind: l.linkinfo.info_kind } : {}) };
    return uplinks.has(l.ifname) ? { ...d, uplinkPort: true } : d;
  });
}

/**
 * A listing this often regardless of notifications: a safety net, should one ever be missed (the
 * socket's buffer overflowing is reported, and taken for a change).
 */
const FULL_SCAN_MS = 30_000;

export interface DevicePrograms {
  tc: TcPrograms;
  xdp: BpfProgram;
}

/**
 * Keeps our programs attached to every device: node devices get XDP
 * (NodePort fast path), tc ingress (external traffic, replies) and tc egress
 * (host-originated traffic); every other device is taken as pod-facing and
 * gets tc ingress (the pod's traffic) and tc egress (what the node itself
 * sends the pod); lo gets the node devices' tc egress (what the node sends
 * itself). Devices that appear later (a new pod's veth), and devices
 * whose role changes, are seen through a link watch (start).
 */
export class DeviceAttacher {
  private attached = new Map<number, string>();
  private timer: NodeJS.Timeout | null = null;
  /** Whether the last pass left something unattached: the next tick tries again. */
  private pending = false;
  private scannedAt = 0;
  private watch: LinkWatch | null = null;

  constructor(private readonly progs: DevicePrograms, private readonly nodeDevices: readonly string[] | null, private readonly log: Logger, private readonly xdp: XdpPolicy = 'auto') {}

  reconcile(): Device[] {
    const devices = listDevices(this.nodeDevices);
    let complete = true;
    const present = new Set(devices.map((d) => d.ifindex));
    for (const ifindex of [...this.attached.keys()]) if (!present.has(ifindex)) this.attached.delete(ifindex);
    for (const d of devices) {
      const role = d.loopback ? 'loopback' : d.node ? 'node' : d.uplinkPort ? 'uplink port' : 'pod';
      if (this.attached.get(d.ifindex) === role) continue;
      try {
        this.attach(d);
        this.attached.set(d.ifindex, role);
        this.log.info('attached', { device: d.name, role });
      } catch (e) {
        // A device can vanish between listing and attaching (a pod going away).
        this.log.warn('cannot attach', { device: d.name, role, error: (e as Error).message });
        complete = false;
      }
    }
    this.pending = !complete;
    this.scannedAt = Date.now();
    return devices;
  }

  /**
   * Reconciles now, then within intervalMs of any link or address change: a new pod's veth, a
   * device given the node's address (a node device now) or a master (an uplink port now). The
   * watch opens before the first listing, so that nothing between the two is missed. Our own
   * XDP attachments are link changes too: each costs one more pass, which changes nothing.
   */
  start(intervalMs = 1000): void {
    this.watch = LinkWatch.open({ links: true });
    this.reconcile();
    this.timer = setInterval(() => {
      try {
        if (this.watchChanged() || this.pending || Date.now() - this.scannedAt >= FULL_SCAN_MS) this.reconcile();
      } catch (e) {
        this.pending = true;
        this.log.warn('device scan failed', { error: (e as Error).message });
      }
    }, intervalMs);
    this.timer.unref();
  }

  /** A watch that fails is taken for a change, and opened again: the listing never stops. */
  private watchChanged(): boolean {
    try {
      return this.watch!.changed();
    } catch (e) {
      this.log.warn('link watch failed; opening it again', { error: (e as Error).message });
      this.watch?.close();
      this.watch = LinkWatch.open({ links: true });
      return true;
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.watch?.close();
    this.watch = null;
  }

  private attach(d: Device): void {
    if (d.uplinkPort) {
      // Taken for a pod's device by an older version, it may hold our programs.
      for (const dir of ['ingress', 'egress'] as const) if (queryTc(d.ifindex, dir) !== 0) detachTc(d.ifindex, dir);
      detachOurXdp(d, this.progs.xdp.name);
      return;
    }
    if (d.loopback) {
      attachTc(this.progs.tc.host, d.ifindex, 'egress');
      return;
    }
    if (!d.node) {
      attachTc(this.progs.tc.pods, d.ifindex, 'ingress');
      attachTc(this.progs.tc.toPod, d.ifindex, 'egress');
      // A node device once (its address moved away): its XDP would still take external traffic.
      detachOurXdp(d, this.progs.xdp.name);
      return;
    }
    attachTc(this.progs.tc.wire, d.ifindex, 'ingress');
    attachTc(this.progs.tc.host, d.ifindex, 'egress');
    if (!wantsXdp(d, this.xdp)) {
      // An instance with another policy may have left ours there (an old program version, too).
      detachOurXdp(d, this.progs.xdp.name);
      return;
    }
    try {
      attachXdp(this.progs.xdp, d.ifindex, 'native');
    } catch (e) {
      // Generic XDP turns every skb back into a buffer, copying the ones TCP cloned: slower than
      // tc alone, so only where asked for (on). A bridge (flannel's cni0) never has native XDP.
      if (this.xdp !== 'on') {
        detachOurXdp(d, this.progs.xdp.name);
        this.log.info('no native XDP on this device; tc alone serves it', { device: d.name, error: (e as Error).message });
        return;
      }
      this.log.info('native XDP unavailable, trying generic', { device: d.name, error: (e as Error).message });
      try {
        attachXdp(this.progs.xdp, d.ifindex, 'generic');
      } catch (e2) {
        this.log.warn('no XDP on this device; tc alone serves it', { device: d.name, error: (e2 as Error).message });
      }
    }
  }
}

/** Removes our programs from every device of this namespace (cleanup). Others' programs stay. */
export function detachAll(ourXdpNames: readonly string[]): string[] {
  const removed: string[] = [];
  for (const d of listDevices(null)) {
    for (const dir of ['ingress', 'egress'] as const) {
      if (queryTc(d.ifindex, dir) !== 0) {
        detachTc(d.ifindex, dir);
        removed.push(`tc ${dir} on ${d.name}`);
      }
    }
    if (ourXdpNames.some((n) => detachOurXdp(d, n))) removed.push(`xdp on ${d.name}`);
  }
  return removed;
}

/** Detaches the XDP program on `d` if it is ours (by name); whether it did. */
function detachOurXdp(d: Device, ourName: string): boolean {
  const x = queryXdp(d.ifindex);
  if (x.progId === 0 || native().progInfoById(x.progId).name !== ourName) return false;
  detachXdp(d.ifindex, x.mode === 'generic' ? 'generic' : 'native');
  return true;
}
