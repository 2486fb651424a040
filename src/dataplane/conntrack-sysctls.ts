// kube-proxy's conntrack setup (cmd/kube-proxy/app/server_linux.go, pkg/proxy/conntrack/sysctls.go)
// for the modes that NAT through netfilter: the table's size and the timeouts its flows live by.
import { readFileSync, writeFileSync } from 'node:fs';
import type { ProxyConfig } from '../config/index.js';
import type { Logger } from '../observe/index.js';

const NETFILTER = '/proc/sys/net/netfilter';
const HASHSIZE = '/sys/module/nf_conntrack/parameters/hashsize';

/** The nf_conntrack sysctls (names under net/netfilter) kube-proxy would write, and their values. */
export function conntrackSysctls(c: ProxyConfig): Record<string, number> {
  const ct = c.conntrack;
  const out: Record<string, number> = {};
  if (ct.setMax) out.nf_conntrack_max = c.conntrackMax;
  if (!ct.keepKernelTcpEstablished) out.nf_conntrack_tcp_timeout_established = Math.round(ct.tcpEstablishedTimeoutMs / 1000);
  if (!ct.keepKernelTcpCloseWait) out.nf_conntrack_tcp_timeout_close_wait = Math.round(ct.tcpCloseWaitTimeoutMs / 1000);
  if (ct.tcpBeLiberal) out.nf_conntrack_tcp_be_liberal = 1;
  if (ct.udpTimeoutGivenMs !== null) out.nf_conntrack_udp_timeout = Math.round(ct.udpTimeoutGivenMs / 1000);
  if (ct.udpStreamTimeoutMs !== null) out.nf_conntrack_udp_timeout_stream = Math.round(ct.udpStreamTimeoutMs / 1000);
  return out;
}

export interface SysctlFs {
  read(path: string): string;
  write(path: string, value: string): void;
}

const realFs: SysctlFs = { read: (p) => readFileSync(p, 'utf8'), write: (p, v) => writeFileSync(p, v) };

/**
 * Writes what differs; returns the problems, one per setting. The table size is global (only the
 * initial network namespace may set it) and /sys may be read-only in a container: kube-proxy then
 * says so and goes on, as we do. Without nf_conntrack loaded nothing is there yet: the caller tries
 * again once its rules are in (they load it).
 */
export function applyConntrackSysctls(c: ProxyConfig, fs: SysctlFs = realFs): { problems: string[]; missing: boolean } {
  const problems: string[] = [];
  let missing = false;
  let maxSet = false;
  for (const [name, value] of Object.entries(conntrackSysctls(c))) {
    const path = `${NETFILTER}/${name}`;
    let current: number;
    try {
      current = Number(fs.read(path).trim());
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') missing = true;
      else problems.push(`${path}: ${(e as Error).message}`);
      continue;
    }
    if (current === value) {
      // kube-proxy's SetMax goes on to the buckets when the size is already right. We too, where
      // the size may be written (the same value, a no-op): in another namespace it reads as the
      // host's but may not be, and the buckets, a global module parameter, are not ours to grow.
      if (name === 'nf_conntrack_max') {
        try {
          fs.write(path, String(value));
          maxSet = true;
        } catch {
          // not the host's namespace: nothing to say, the size is as wanted
        }
      }
      continue;
    }
    try {
      fs.write(path, String(value));
      // Only a size we set: outside the host's namespace the size reads as the host's but may not
      // be written, while the buckets (a module parameter, global) could be: never from there.
      if (name === 'nf_conntrack_max') maxSet = true;
    } catch (e) {
      const hint = name === 'nf_conntrack_max' ? ' (only the host\'s network namespace may size the table; conntrack.maxPerCore: 0 leaves it alone)' : '';
      problems.push(`${path}: cannot set ${value}, it stays ${current}: ${(e as Error).message}${hint}`);
    }
  }
  // A bigger table wants more buckets: kube-proxy grows them to a quarter of it, once the size is set.
  if (maxSet) {
    try {
      const buckets = Number(fs.read(HASHSIZE).trim());
      if (buckets < Math.floor(c.conntrackMax / 4)) fs.write(HASHSIZE, String(Math.floor(c.conntrackMax / 4)));
    } catch (e) {
      problems.push(`${HASHSIZE}: cannot grow it to ${Math.floor(c.conntrackMax / 4)}: ${(e as Error).message}`);
    }
  }
  return { problems, missing };
}

/** Whether conntrack lets TCP packets outside the window through (then kube-proxy keeps no INVALID drop). */
export function tcpBeLiberal(c: ProxyConfig, fs: SysctlFs = realFs): boolean {
  if (c.conntrack.tcpBeLiberal) return true;
  try {
    return fs.read(`${NETFILTER}/nf_conntrack_tcp_be_liberal`).trim() === '1';
  } catch {
    return false;
  }
}

/** Applies at start, and once more after the first sync if nf_conntrack was not loaded yet. */
export class ConntrackSetup {
  private tries = 0;

  constructor(private readonly config: ProxyConfig, private readonly log: Logger, private readonly fs: SysctlFs = realFs) {}

  /** Call at start and after each apply: it works at most twice. */
  apply(): void {
    if (this.tries >= 2) return;
    this.tries++;
    const r = applyConntrackSysctls(this.config, this.fs);
    for (const p of r.problems) this.log.warn('conntrack setting not applied', { problem: p });
    if (!r.missing) this.tries = 2;
    else if (this.tries === 2) this.log.warn('nf_conntrack is not loaded: the conntrack settings were not applied', {});
  }
}
