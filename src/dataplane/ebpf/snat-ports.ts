// The SNAT source ports (SNAT_PORT_DEFAULT) against the node's own ephemeral ports. Our REV
// entries keep two SNAT flows apart, but not a SNAT flow and a connection the node opens itself:
// with the same port to the same backend (a kubelet probe), each would get the other's answers,
// and the node's connection, if it is not SNATed, overwrites the flow's REV entry. Linux's
// default ip_local_port_range (32768-60999) ends below ours; a node widened to 1024-65535 (a
// common tuning) overlaps.
import { readFileSync } from 'node:fs';

/** A warning when `localRange` (ip_local_port_range's text) overlaps min..max; null when not. */
export function snatOverlap(localRange: string, min: number, max: number): string | null {
  const [lo, hi] = localRange.trim().split(/\s+/).map(Number);
  if (!Number.isInteger(lo) || !Number.isInteger(hi) || hi! < min || lo! > max) return null;
  return `net.ipv4.ip_local_port_range ${lo}-${hi} overlaps the SNAT ports ${min}-${max}: a connection the node opens from one of them to a backend can take a SNATed flow's answers; end the range below ${min}, or reserve ${min}-${max} in net.ipv4.ip_local_reserved_ports`;
}

export function readSnatOverlap(min: number, max: number, path = '/proc/sys/net/ipv4/ip_local_port_range'): string | null {
  try {
    return snatOverlap(readFileSync(path, 'utf8'), min, max);
  } catch {
    return null;
  }
}
