// Service addresses made local on `lo`, so that the kernel delivers a VIP's
// traffic to the proxy's sockets without any NAT (no iptables or nftables
// needed). Every address is a host route (/32, /128) on lo, marked as ours:
//   IPv4: label lo:ekp, scope host, metric EKP_ADDR_METRIC
//   IPv6: metric EKP_ADDR_METRIC, nodad, preferred_lft 0
// Scope host (IPv4) and deprecated (IPv6) keep the kernel from ever choosing a
// VIP as the source address of the node's own connections (lo is the first
// device it looks at). `lo` rather than a device of ours: the node's address
// discovery skips lo, so a VIP never becomes a NodePort address.
// Commands are argument arrays (or an `ip -batch` script on stdin), never a shell.
import { spawn } from 'node:child_process';
import { parseCIDR } from '../../model/index.js';
import type { LinkSubnet } from './routes.js';

export const ADDR_DEVICE = 'lo';
export const ADDR_LABEL = 'lo:ekp';
/** "ekp" in ASCII: no one else puts this metric on an address of lo. */
export const ADDR_METRIC = 0x656b70;

export interface CommandResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export type CommandRunner = (argv: string[], input?: string) => Promise<CommandResult>;

export const runCommand: CommandRunner = (argv, input) =>
  new Promise((resolve) => {
    const out: CommandResult = { status: null, stdout: '', stderr: '' };
    let child;
    try {
      child = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
    } catch (e) {
      out.stderr = String(e);
      resolve(out);
      return;
    }
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out.stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (out.stderr += d));
    child.on('error', (e) => (out.stderr += String(e)));
    child.on('close', (status) => {
      clearTimeout(timer);
      out.status = status;
      resolve(out);
    });
    child.stdin.on('error', () => {});
    child.stdin.end(input ?? '');
  });

interface IpAddrInfo {
  family?: string;
  local?: string;
  prefixlen?: number;
  label?: string;
  metric?: number;
}
interface IpLink {
  ifname?: string;
  addr_info?: IpAddrInfo[];
}

export interface LocalAddresses {
  /** Service addresses of ours on lo (address text, no prefix). */
  ours: Set<string>;
  /** Every other local address, on any device. */
  others: Set<string>;
  /** The subnets of the addresses on devices other than lo (hosts on those links). */
  links: LinkSubnet[];
}

/** Ours: on lo, a host prefix, and our label (IPv4) or metric. */
export function isOurs(link: string, a: IpAddrInfo): boolean {
  if (link !== ADDR_DEVICE || !a.local) return false;
  const host = a.family === 'inet6' ? 128 : 32;
  if (a.prefixlen !== host) return false;
  return a.metric === ADDR_METRIC || (a.family === 'inet' && a.label === ADDR_LABEL);
}

/** `ip -j addr show` → ours and the rest. */
export function parseAddresses(json: string): LocalAddresses {
  const out: LocalAddresses = { ours: new Set(), others: new Set(), links: [] };
  const links = JSON.parse(json || '[]') as IpLink[];
  for (const link of links) {
    for (const a of link.addr_info ?? []) {
      if (!a.local) continue;
      (isOurs(link.ifname ?? '', a) ? out.ours : out.others).add(a.local);
      const host = a.family === 'inet6' ? 128 : 32;
      if (link.ifname && link.ifname !== ADDR_DEVICE && a.prefixlen !== undefined && a.prefixlen < host) {
        const c = parseCIDR(`${a.local}/${a.prefixlen}`);
        if (c.ok) out.links.push({ device: link.ifname, cidr: c.cidr });
      }
    }
  }
  return out;
}

/** `replace`, not `add`: idempotent, so a drifted or adopted address is simply rewritten. */
export function addLine(address: string): string {
  return address.includes(':')
    ? `address replace ${address}/128 dev ${ADDR_DEVICE} nodad preferred_lft 0 metric ${ADDR_METRIC}`
    : `address replace ${address}/32 dev ${ADDR_DEVICE} scope host label ${ADDR_LABEL} metric ${ADDR_METRIC}`;
}

export function delLine(address: string): string {
  return `address del ${address}/${address.includes(':') ? 128 : 32} dev ${ADDR_DEVICE}`;
}

/** The addresses of this network namespace, through `ip`. */
export class AddressManager {
  constructor(private readonly run: CommandRunner = runCommand) {}

  async list(): Promise<LocalAddresses> {
    const r = await this.run(['ip', '-j', 'address', 'show']);
    if (r.status !== 0) throw new Error(`ip address show: ${r.stderr.trim() || `exit ${r.status}`}`);
    return parseAddresses(r.stdout);
  }

  /** Runs one `ip -force -batch -` script; returns its error text ('' when every line worked). */
  private async batch(lines: string[]): Promise<string> {
    if (lines.length === 0) return '';
    const r = await this.run(['ip', '-force', '-batch', '-'], `${lines.join('\n')}\n`);
    return r.status === 0 ? '' : r.stderr.trim() || `exit ${r.status}`;
  }

  async add(addresses: Iterable<string>): Promise<string> {
    return this.batch([...addresses].map(addLine));
  }

  async remove(addresses: Iterable<string>): Promise<string> {
    return this.batch([...addresses].map(delLine));
  }
}
