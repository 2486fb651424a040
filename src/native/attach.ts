import { constant, native } from './binding.js';
import { naming } from './errors.js';
import type { BpfProgram } from './program.js';

export type Interface = string | number;
export type XdpMode = 'native' | 'generic';
export type TcDirection = 'ingress' | 'egress';

/** The ifindex of an interface in this process's network namespace. */
export function ifindexOf(iface: Interface): number {
  if (typeof iface === 'number') {
    if (!Number.isInteger(iface) || iface < 1) throw new RangeError(`ifindex must be a positive integer, got ${iface}`);
    return iface;
  }
  if (typeof iface !== 'string' || iface.length === 0 || iface.length > 15) {
    throw new TypeError(`interface name must be 1-15 characters, got ${JSON.stringify(iface)}`);
  }
  return native().ifNameToIndex(iface);
}

function xdpFlags(mode: XdpMode): number {
  return constant(mode === 'native' ? 'XDP_FLAGS_DRV_MODE' : 'XDP_FLAGS_SKB_MODE');
}

export function attachXdp(prog: BpfProgram, iface: Interface, mode: XdpMode = 'native'): void {
  const ifindex = ifindexOf(iface);
  naming({ program: prog.name }, () => native().xdpAttach(ifindex, prog.fd, xdpFlags(mode)));
}

export function detachXdp(iface: Interface, mode: XdpMode = 'native'): void {
  const ifindex = ifindexOf(iface);
  native().xdpDetach(ifindex, xdpFlags(mode));
}

export interface XdpState {
  mode: 'none' | 'native' | 'generic' | 'other';
  progId: number;
}

export function queryXdp(iface: Interface): XdpState {
  const r = native().xdpQuery(ifindexOf(iface));
  const mode = r.mode === constant('XDP_ATTACHED_NONE') ? 'none'
    : r.mode === constant('XDP_ATTACHED_DRV') ? 'native'
      : r.mode === constant('XDP_ATTACHED_SKB') ? 'generic' : 'other';
  return { mode, progId: r.progId };
}

export interface TcSlot {
  /** tc filter priority; ours is fixed so that a restart replaces in place. */
  priority: number;
  handle: number;
}

export const DEFAULT_TC_SLOT: TcSlot = { priority: 1, handle: 0xe6b };

export interface TcAttachment extends TcSlot {
  ifindex: number;
  direction: TcDirection;
  /** True when we created the clsact qdisc, so that cleanup may remove it. */
  createdHook: boolean;
}

export function attachTc(prog: BpfProgram, iface: Interface, direction: TcDirection, slot: TcSlot = DEFAULT_TC_SLOT): TcAttachment {
  const ifindex = ifindexOf(iface);
  checkSlot(slot);
  const r = naming({ program: prog.name }, () => native().tcAttach(ifindex, direction, prog.fd, slot.priority, slot.handle));
  return { ifindex, direction, createdHook: r.createdHook, priority: r.priority, handle: r.handle };
}

export function detachTc(iface: Interface, direction: TcDirection, slot: TcSlot = DEFAULT_TC_SLOT): void {
  checkSlot(slot);
  native().tcDetach(ifindexOf(iface), direction, slot.priority, slot.handle);
}

/** The program id in our tc slot, or 0 when the slot is empty. */
export function queryTc(iface: Interface, direction: TcDirection, slot: TcSlot = DEFAULT_TC_SLOT): number {
  checkSlot(slot);
  return native().tcQuery(ifindexOf(iface), direction, slot.priority, slot.handle);
}

/** Removes the clsact qdisc: only for one that attachTc reported as created by us. */
export function destroyTcHook(iface: Interface): void {
  native().tcHookDestroy(ifindexOf(iface));
}

/**
 * Attaches a cgroup program (connect4, sendmsg6, …) to the cgroup v2 directory
 * `cgroupPath`, with the hook type the program's section names. Multi-attach:
 * other users' programs on the same cgroup stay.
 */
export function attachCgroup(prog: BpfProgram, cgroupPath: string): void {
  checkCgroupPath(cgroupPath);
  naming({ program: prog.name }, () => native().cgroupAttach(prog.fd, cgroupPath, prog.expectedAttachType));
}

export function detachCgroup(prog: BpfProgram, cgroupPath: string): void {
  checkCgroupPath(cgroupPath);
  naming({ program: prog.name }, () => native().cgroupDetach(prog.fd, cgroupPath, prog.expectedAttachType));
}

/** Detaches a program by id (one a previous instance attached and we hold no fd for). */
export function detachCgroupById(progId: number, cgroupPath: string, attachType: number): void {
  checkCgroupPath(cgroupPath);
  native().cgroupDetachById(progId, cgroupPath, attachType);
}

/** Ids of the programs attached to a cgroup hook, with their names. */
export function queryCgroup(cgroupPath: string, attachType: number): { id: number; name: string }[] {
  checkCgroupPath(cgroupPath);
  return native().cgroupQuery(cgroupPath, attachType).map((id) => {
    const info = native().progInfoById(id);
    return { id, name: info.name };
  });
}

function checkSlot(slot: TcSlot): void {
  if (!Number.isInteger(slot.priority) || slot.priority < 1 || slot.priority > 0xffff) throw new RangeError(`tc priority must be 1-65535, got ${slot.priority}`);
  if (!Number.isInteger(slot.handle) || slot.handle < 1 || slot.handle > 0xffffffff) throw new RangeError(`tc handle must be a positive 32-bit integer, got ${slot.handle}`);
}

function checkCgroupPath(path: string): void {
  if (typeof path !== 'string' || !path.startsWith('/')) throw new TypeError(`cgroup path must be absolute, got ${JSON.stringify(path)}`);
}
