// Reading `conntrack -L` (conntrack-tools 1.4.x; Debian 12 has 1.4.7). One entry a line:
//   udp      17 119 src=10.244.9.9 dst=10.96.0.53 sport=40000 dport=53 [UNREPLIED] src=10.244.1.1 dst=10.244.9.9 sport=5353 dport=40000 [ASSURED] mark=0 zone=3 use=1
// the original tuple's fields, then the reply's, among flags and extras that vary with the
// version, the kernel and the options (mark, zone, use, id, packets/bytes with accounting,
// secctx, labels); `-o extended` puts "ipv4 2" in front. `conntrack -D` and `-R` print the
// entries they delete in the same form. Only the two tuples are read.
import { parseIP, type IPFamily } from '../model/index.js';

export interface ConntrackTuple {
  /** Canonical text (what the model compares: dotted quad, RFC 5952 IPv6). */
  readonly src: string;
  readonly dst: string;
  readonly sport: number;
  readonly dport: number;
}

/** A UDP entry: where the client sent (orig) and where the replies come from (reply: the endpoint after DNAT). */
export interface ConntrackEntry {
  readonly family: IPFamily;
  readonly orig: ConntrackTuple;
  readonly reply: ConntrackTuple;
}

// conntrack-tools prints each tuple as "src= dst= sport= dport=" in that order; whatever it puts
// around them is skipped. One regular expression a line: a table of 100,000 entries is read in
// a fraction of a second.
const LINE = /^\s*(?:\[[A-Z]+\]\s+)?(?:ipv[46]\s+\d+\s+)?udp\s+17\s.*?\ssrc=(\S+) dst=(\S+) sport=(\d{1,5}) dport=(\d{1,5})(?=\s).*?\ssrc=(\S+) dst=(\S+) sport=(\d{1,5}) dport=(\d{1,5})(?:\s|$)/;

/**
 * A UDP entry, or null for anything else: another protocol, a summary line, a line cut short
 * or with an address that is not one. A line that is not understood must be skipped, never
 * turned into a deletion: one bad line makes `conntrack -R` refuse its whole batch.
 */
export function parseConntrackLine(line: string): ConntrackEntry | null {
  const m = LINE.exec(line);
  if (!m) return null;
  const orig = tuple(m[1]!, m[2]!, m[3]!, m[4]!);
  const reply = tuple(m[5]!, m[6]!, m[7]!, m[8]!);
  if (!orig || !reply || orig.family !== reply.family) return null;
  return { family: orig.family, orig: orig.t, reply: reply.t };
}

function tuple(src: string, dst: string, sport: string, dport: string): { family: IPFamily; t: ConntrackTuple } | null {
  const s = parseIP(src);
  const d = parseIP(dst);
  const sp = Number(sport);
  const dp = Number(dport);
  if (!s.ok || !d.ok || s.ip.family !== d.ip.family || sp > 65535 || dp > 65535) return null;
  return { family: s.ip.family, t: { src: s.ip.text, dst: d.ip.text, sport: sp, dport: dp } };
}

/** Every UDP entry of a listing; other lines are skipped. */
export function parseConntrackList(text: string): ConntrackEntry[] {
  const out: ConntrackEntry[] = [];
  for (const line of text.split('\n')) {
    const e = parseConntrackLine(line);
    if (e) out.push(e);
  }
  return out;
}
