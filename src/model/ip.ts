// IP and CIDR parsing for the model. Hand-written rather than node:net so that results do not
// depend on the platform's inet_pton and so we can return the canonical text form, which is what
// every map key and dedup in the model compares.

export type IPFamily = 4 | 6;

export interface ParsedIP {
  readonly family: IPFamily;
  /** Canonical text: dotted quad, or RFC 5952 lower-case compressed IPv6. */
  readonly text: string;
  readonly bytes: readonly number[];
}

export interface ParsedCIDR {
  readonly family: IPFamily;
  /** Canonical text with host bits cleared, e.g. "10.0.0.0/8". */
  readonly text: string;
  readonly network: readonly number[];
  readonly prefix: number;
}

export type IPParse = { readonly ok: true; readonly ip: ParsedIP } | { readonly ok: false; readonly reason: string };
export type CIDRParse = { readonly ok: true; readonly cidr: ParsedCIDR } | { readonly ok: false; readonly reason: string };

const MAX_TEXT = 64;

function parseIPv4Bytes(s: string): number[] | null {
  const n = ipv4Number(s);
  return n < 0 ? null : [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
}

/**
 * The address as an unsigned 32-bit number when `s` is dotted-quad IPv4 text, else -1.
 * Allocates nothing: sorting and validating endpoints call it for every address of every sync.
 * Leading zeros are read as decimal, as kube-proxy's netutils.ParseIPSloppy does, so "010.0.0.1"
 * means 10.0.0.1 here exactly as it does in kube-proxy (older objects may still hold such text).
 */
export function ipv4Number(s: string): number {
  let out = 0;
  let parts = 0;
  let n = 0;
  let digits = 0;
  const len = s.length;
  for (let i = 0; i <= len; i++) {
    const c = i < len ? s.charCodeAt(i) : 46;
    if (c === 46) {
      if (digits === 0 || n > 255 || parts === 4) return -1;
      out = out * 256 + n;
      parts++;
      n = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57 && digits < 3) {
      n = n * 10 + (c - 48);
      digits++;
    } else {
      return -1;
    }
  }
  return parts === 4 ? out : -1;
}

/** True when IPv4 text is already canonical: no part has a leading zero. */
function canonicalIPv4Text(s: string): boolean {
  for (let i = 0; i + 1 < s.length; i++) {
    // A '0' at the start of a part followed by another digit.
    if (s.charCodeAt(i) === 48 && (i === 0 || s.charCodeAt(i - 1) === 46) && s.charCodeAt(i + 1) !== 46) return false;
  }
  return true;
}

/**
 * Canonical text of an IPv4 address without building a ParsedIP, or undefined when `s` is not
 * IPv4 (callers then take parseIP's path, which also gives the reason).
 */
export function canonicalIPv4(s: string): string | undefined {
  if (ipv4Number(s) < 0) return undefined;
  return canonicalIPv4Text(s) ? s : format(4, parseIPv4Bytes(s)!);
}

function parseIPv6Bytes(s: string): number[] | null {
  if (s.includes('%')) return null; // zone ids have no meaning in a Service or EndpointSlice
  const halves = s.split('::');
  if (halves.length > 2) return null;
  const groups = (h: string): number[] | null => {
    if (h === '') return [];
    const out: number[] = [];
    const parts = h.split(':');
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i] ?? '';
      if (i === parts.length - 1 && p.includes('.')) {
        const v4 = parseIPv4Bytes(p);
        if (!v4) return null;
        out.push(((v4[0] ?? 0) << 8) | (v4[1] ?? 0), ((v4[2] ?? 0) << 8) | (v4[3] ?? 0));
        continue;
      }
      if (!/^[0-9a-fA-F]{1,4}$/.test(p)) return null;
      out.push(parseInt(p, 16));
    }
    return out;
  };
  const head = groups(halves[0] ?? '');
  if (!head) return null;
  let all: number[];
  if (halves.length === 2) {
    const tail = groups(halves[1] ?? '');
    if (!tail) return null;
    const missing = 8 - head.length - tail.length;
    if (missing < 1) return null;
    all = [...head, ...new Array<number>(missing).fill(0), ...tail];
  } else {
    if (head.length !== 8) return null;
    all = head;
  }
  const bytes: number[] = [];
  for (const g of all) bytes.push(g >> 8, g & 0xff);
  return bytes;
}

function formatIPv6(bytes: readonly number[]): string {
  const g: number[] = [];
  for (let i = 0; i < 16; i += 2) g.push(((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0));
  // RFC 5952: compress the longest run (of at least two) of zero groups, the first one on a tie.
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (xs: number[]): string => xs.map((x) => x.toString(16)).join(':');
  if (bestLen < 2) return hex(g);
  return `${hex(g.slice(0, bestStart))}::${hex(g.slice(bestStart + bestLen))}`;
}

function format(family: IPFamily, bytes: readonly number[]): string {
  return family === 4 ? bytes.join('.') : formatIPv6(bytes);
}

function isV4Mapped(bytes: readonly number[]): boolean {
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return false;
  return bytes[10] === 0xff && bytes[11] === 0xff;
}

export function parseIP(s: string): IPParse {
  if (s.length === 0 || s.length > MAX_TEXT) return { ok: false, reason: 'not an IP address' };
  if (s.includes(':')) {
    const bytes = parseIPv6Bytes(s);
    if (!bytes) return { ok: false, reason: 'not an IP address' };
    // Go's net.ParseIP turns "::ffff:a.b.c.d" into an IPv4 address, other parsers keep it IPv6; the
    // API server rejects them nowadays, and refusing them avoids guessing which family was meant.
    if (isV4Mapped(bytes)) return { ok: false, reason: 'IPv4-mapped IPv6 addresses are not allowed' };
    return { ok: true, ip: { family: 6, text: formatIPv6(bytes), bytes } };
  }
  const bytes = parseIPv4Bytes(s);
  if (!bytes) return { ok: false, reason: 'not an IP address' };
  // Most input is already canonical (no leading zeros): keep the string instead of building it again.
  return { ok: true, ip: { family: 4, text: canonicalIPv4Text(s) ? s : format(4, bytes), bytes } };
}

export function parseCIDR(s: string): CIDRParse {
  const slash = s.indexOf('/');
  if (slash < 0 || s.length > MAX_TEXT + 4) return { ok: false, reason: 'not a CIDR (want address/prefix)' };
  const ip = parseIP(s.slice(0, slash));
  if (!ip.ok) return { ok: false, reason: `not a CIDR: ${ip.reason}` };
  const p = s.slice(slash + 1);
  const max = ip.ip.family === 4 ? 32 : 128;
  if (!/^[0-9]{1,3}$/.test(p) || Number(p) > max) {
    return { ok: false, reason: `not a CIDR: prefix length must be 0-${max}` };
  }
  const prefix = Number(p);
  // Host bits are cleared rather than rejected: kube-proxy's ParseCIDRSloppy accepts "10.0.0.1/8".
  const network = ip.ip.bytes.map((b, i) => {
    const bitsHere = Math.max(0, Math.min(8, prefix - i * 8));
    return b & ((0xff << (8 - bitsHere)) & 0xff);
  });
  return {
    ok: true,
    cidr: { family: ip.ip.family, network, prefix, text: `${format(ip.ip.family, network)}/${prefix}` },
  };
}

/** Family of a canonical (or any parseable) address, or null when it is not an IP. */
export function ipFamily(s: string): IPFamily | null {
  const r = parseIP(s);
  return r.ok ? r.ip.family : null;
}

export function cidrContains(cidr: ParsedCIDR, ip: ParsedIP): boolean {
  if (cidr.family !== ip.family) return false;
  for (let i = 0; i < cidr.network.length; i++) {
    const bitsHere = Math.max(0, Math.min(8, cidr.prefix - i * 8));
    if (bitsHere === 0) break;
    const mask = (0xff << (8 - bitsHere)) & 0xff;
    if (((ip.bytes[i] ?? 0) & mask) !== cidr.network[i]) return false;
  }
  return true;
}

/** Whether `inner` lies in `outer` (equal CIDRs lie in each other). */
export function cidrWithin(inner: ParsedCIDR, outer: ParsedCIDR): boolean {
  return outer.family === inner.family && outer.prefix <= inner.prefix
    && cidrContains(outer, { family: inner.family, text: inner.text, bytes: inner.network });
}

/** The CIDRs no other one holds, in their order (the first of equal ones): the same addresses, disjoint. */
export function outermostCIDRs(all: readonly ParsedCIDR[]): ParsedCIDR[] {
  return all.filter((c, i) => !all.some((o, j) => j !== i && cidrWithin(c, o) && (o.prefix < c.prefix || j < i)));
}

/** Total order on address text: IPv4 before IPv6, then numerically; unparseable text last, by string. */
export function compareIPs(a: string, b: string): number {
  // Two IPv4 addresses, by far the common case, compare without parsing into objects.
  const na = ipv4Number(a);
  if (na >= 0) {
    const nb = ipv4Number(b);
    if (nb >= 0) return na - nb;
  }
  const pa = parseIP(a);
  const pb = parseIP(b);
  if (!pa.ok || !pb.ok) {
    if (pa.ok !== pb.ok) return pa.ok ? -1 : 1;
    return a < b ? -1 : a > b ? 1 : 0;
  }
  if (pa.ip.family !== pb.ip.family) return pa.ip.family - pb.ip.family;
  for (let i = 0; i < pa.ip.bytes.length; i++) {
    const d = (pa.ip.bytes[i] ?? 0) - (pb.ip.bytes[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}
