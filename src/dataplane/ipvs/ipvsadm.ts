// The IPVS table as `ipvsadm -Sn` prints it, and the `ipvsadm --restore` commands that take
// the kernel from what it holds to a plan. Pure.
import type { IPFamily, Protocol } from '../../model/index.js';
import { hostPort, realKey, vsKey, type VirtualServer } from './plan.js';

export interface KernelReal {
  address: string;
  port: number;
  weight: number;
  /** -m (masq), -g (gatewaying), -i (ipip): ours are always masq. */
  forward: 'm' | 'g' | 'i';
}

export interface KernelVirtualServer {
  protocol: Protocol;
  address: string;
  port: number;
  family: IPFamily;
  scheduler: string;
  persistence: number;
  /** Keyed by realKey(). */
  reals: Map<string, KernelReal>;
  /** Set for things we do not manage (fwmark services, -M netmasks, --pe): never edited, only deleted if ours. */
  extra: string[];
}

const PROTO_FLAG: Record<Protocol, string> = { TCP: '-t', UDP: '-u', SCTP: '--sctp-service' };
const FLAG_PROTO: Record<string, Protocol> = { '-t': 'TCP', '--tcp-service': 'TCP', '-u': 'UDP', '--udp-service': 'UDP', '--sctp-service': 'SCTP' };

/** "10.0.0.1:80" or "[fd00::1]:80" → address and port. */
export function splitHostPort(s: string): { address: string; port: number } | null {
  const m = /^\[([0-9a-fA-F:.]+)\]:(\d+)$/.exec(s) ?? /^([0-9.]+):(\d+)$/.exec(s);
  if (!m) return null;
  return { address: m[1]!.toLowerCase(), port: Number(m[2]) };
}

/** Parses `ipvsadm -Sn` (fwmark services are skipped: we never create them). */
export function parseIpvsSave(text: string): Map<string, KernelVirtualServer> {
  const out = new Map<string, KernelVirtualServer>();
  for (const raw of text.split('\n')) {
    const t = raw.trim().split(/\s+/);
    if (t.length < 2) continue;
    const cmd = t[0];
    if (cmd !== '-A' && cmd !== '-a') continue;
    const protocol = FLAG_PROTO[t[1]!];
    const hp = protocol ? splitHostPort(t[2] ?? '') : null;
    if (!protocol || !hp) continue;
    const key = vsKey(protocol, hp.address, hp.port);
    if (cmd === '-A') {
      const vs: KernelVirtualServer = {
        protocol, ...hp, family: hp.address.includes(':') ? 6 : 4, scheduler: '', persistence: 0, reals: new Map(), extra: [],
      };
      for (let i = 3; i < t.length; i++) {
        const f = t[i]!;
        if (f === '-s' || f === '--scheduler') vs.scheduler = t[++i] ?? '';
        else if (f === '-p' || f === '--persistent') vs.persistence = Number(t[++i] ?? 0);
        else vs.extra.push(f);
      }
      out.set(key, vs);
    } else {
      const vs = out.get(key);
      if (!vs) continue;
      let real: { address: string; port: number } | null = null;
      let weight = 1;
      let forward: KernelReal['forward'] = 'g';
      for (let i = 3; i < t.length; i++) {
        const f = t[i]!;
        if (f === '-r' || f === '--real-server') real = splitHostPort(t[++i] ?? '');
        else if (f === '-w' || f === '--weight') weight = Number(t[++i] ?? 1);
        else if (f === '-m' || f === '--masquerading') forward = 'm';
        else if (f === '-i' || f === '--ipip') forward = 'i';
        else if (f === '-g' || f === '--gatewaying') forward = 'g';
      }
      if (real) vs.reals.set(realKey(real.address, real.port), { ...real, weight, forward });
    }
  }
  return out;
}

/** Active and inactive connection counts per "vsKey real" from `ipvsadm -Ln` (no --stats). */
export function parseIpvsConnections(text: string): Map<string, number> {
  const out = new Map<string, number>();
  let current: string | null = null;
  for (const line of text.split('\n')) {
    const vs = /^(TCP|UDP|SCTP)\s+(\S+)\s/.exec(line);
    if (vs) {
      const hp = splitHostPort(vs[2]!);
      current = hp ? vsKey(vs[1] as Protocol, hp.address, hp.port) : null;
      continue;
    }
    const rs = /^\s+->\s+(\S+)\s+\S+\s+(\d+)\s+(\d+)\s+(\d+)/.exec(line);
    if (rs && current) {
      const hp = splitHostPort(rs[1]!);
      if (hp) out.set(`${current} ${realKey(hp.address, hp.port)}`, Number(rs[3]) + Number(rs[4]));
    } else if (!/^\s+->/.test(line)) {
      current = line.startsWith('FWM') ? null : current;
    }
  }
  return out;
}

export interface IpvsDiff {
  /** `ipvsadm --restore` input, in order: service adds/edits, real server adds/edits/deletes, service deletes. */
  commands: string[];
  /** Real servers left in the kernel at weight 0 until their connections end ("vsKey real"). */
  draining: string[];
  counts: { addServices: number; editServices: number; deleteServices: number; addReals: number; editReals: number; deleteReals: number };
}

export interface DiffOptions {
  /** Whether a virtual server the plan does not want is ours to delete. */
  isOurs(vs: KernelVirtualServer): boolean;
  /**
   * Connection counts for draining real servers ("vsKey real" → active + inactive). A TCP real
   * server that left the plan first goes to weight 0; it is deleted once its count is 0.
   * Without counts, weight-0 ones stay.
   */
  connections?: ReadonlyMap<string, number>;
}

function serviceCommand(op: '-A' | '-E', vs: VirtualServer): string {
  return [op, PROTO_FLAG[vs.protocol], hostPort(vs.address, vs.port), '-s', vs.scheduler, ...(vs.persistence > 0 ? ['-p', String(vs.persistence)] : [])].join(' ');
}

function realCommand(op: '-a' | '-e' | '-d', protocol: Protocol, vsAddr: string, r: { address: string; port: number; weight: number }): string {
  const base = [op, PROTO_FLAG[protocol], vsAddr, '-r', hostPort(r.address, r.port)];
  return (op === '-d' ? base : [...base, '-m', '-w', String(r.weight)]).join(' ');
}

/**
 * Graceful removal applies to TCP only: UDP and SCTP real servers are deleted at once (with
 * expire_nodest_conn their flows end at the next packet), as kube-proxy does.
 */
export function diffIpvs(kernel: ReadonlyMap<string, KernelVirtualServer>, want: ReadonlyMap<string, VirtualServer>, opts: DiffOptions): IpvsDiff {
  const commands: string[] = [];
  const realCommands: string[] = [];
  const deletes: string[] = [];
  const draining: string[] = [];
  const counts = { addServices: 0, editServices: 0, deleteServices: 0, addReals: 0, editReals: 0, deleteReals: 0 };

  for (const [key, vs] of want) {
    const have = kernel.get(key);
    const addr = hostPort(vs.address, vs.port);
    if (!have) {
      commands.push(serviceCommand('-A', vs));
      counts.addServices++;
    } else if (have.scheduler !== vs.scheduler || have.persistence !== vs.persistence || have.extra.length > 0) {
      commands.push(serviceCommand('-E', vs));
      counts.editServices++;
    }
    const wanted = new Set<string>();
    for (const r of vs.reals) {
      const rk = realKey(r.address, r.port);
      wanted.add(rk);
      const hr = have?.reals.get(rk);
      if (!hr) {
        realCommands.push(realCommand('-a', vs.protocol, addr, r));
        counts.addReals++;
      } else if (hr.weight !== r.weight || hr.forward !== 'm') {
        // A forwarding method cannot be edited in place.
        if (hr.forward !== 'm') {
          realCommands.push(realCommand('-d', vs.protocol, addr, hr), realCommand('-a', vs.protocol, addr, r));
        } else {
          realCommands.push(realCommand('-e', vs.protocol, addr, r));
        }
        counts.editReals++;
      }
    }
    for (const [rk, hr] of have?.reals ?? []) {
      if (wanted.has(rk)) continue;
      const id = `${key} ${rk}`;
      if (vs.protocol !== 'TCP') {
        realCommands.push(realCommand('-d', vs.protocol, addr, hr));
        counts.deleteReals++;
      } else if (hr.weight !== 0) {
        realCommands.push(realCommand('-e', vs.protocol, addr, { ...hr, weight: 0 }));
        counts.editReals++;
        draining.push(id);
      } else if (opts.connections?.get(id) === 0) {
        realCommands.push(realCommand('-d', vs.protocol, addr, hr));
        counts.deleteReals++;
      } else {
        draining.push(id);
      }
    }
  }
  for (const [key, have] of kernel) {
    if (want.has(key) || !opts.isOurs(have)) continue;
    deletes.push(`-D ${PROTO_FLAG[have.protocol]} ${hostPort(have.address, have.port)}`);
    counts.deleteServices++;
  }
  return { commands: [...commands, ...realCommands, ...deletes], draining, counts };
}

/** Commands that delete every virtual server `isOurs` accepts (--cleanup). */
export function deleteAll(kernel: ReadonlyMap<string, KernelVirtualServer>, isOurs: (vs: KernelVirtualServer) => boolean): string[] {
  return [...kernel.values()].filter(isOurs).map((vs) => `-D ${PROTO_FLAG[vs.protocol]} ${hostPort(vs.address, vs.port)}`);
}
