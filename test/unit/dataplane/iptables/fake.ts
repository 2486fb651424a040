// A fake iptables for unit tests: applies iptables-restore --noflush input to in-memory tables with
// the kernel's checks (a rule must jump to an existing chain, a chain must be unreferenced to be
// deleted, -D must find its rule), and a packet tracer after kube-proxy's tracePacket
// (pkg/proxy/iptables/proxier_test.go): source, protocol, destination → "10.244.1.11:8080",
// "REJECT", "DROP" or "PASS", plus whether it is masqueraded.

const BUILTIN: Record<string, string[]> = {
  filter: ['INPUT', 'FORWARD', 'OUTPUT'],
  nat: ['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING'],
  mangle: ['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING'],
};
/**
 * Our chains that built-in chains jump to (the IPv6 KUBE-NODEPORTS of a cluster without IPv6
 * NodePorts is never used), and the canary, which nothing jumps to.
 */
const TOP_LEVEL = new Set(['KUBE-SERVICES', 'KUBE-NODEPORTS', 'KUBE-EXTERNAL-SERVICES', 'KUBE-FORWARD', 'KUBE-PROXY-FIREWALL', 'KUBE-POSTROUTING', 'KUBE-MARK-MASQ', 'KUBE-PROXY-CANARY']);
const TARGETS = new Set(['ACCEPT', 'DROP', 'REJECT', 'RETURN', 'DNAT', 'SNAT', 'MARK', 'MASQUERADE']);

/** Splits a rule into tokens, honouring double quotes (which it keeps). */
export function tokens(line: string): string[] {
  return line.match(/"[^"]*"|\S+/g) ?? [];
}

const target = (rule: readonly string[]): string | null => {
  const i = rule.indexOf('-j');
  return i >= 0 ? rule[i + 1]! : null;
};

type Tables = Map<string, Map<string, string[][]>>;

export class FakeIptables {
  tables: Tables = new Map(Object.entries(BUILTIN).map(([t, cs]) => [t, new Map(cs.map((c) => [c, []]))]));
  restores = 0;

  /** Applies one restore input; throws (leaving the tables untouched) where the kernel would refuse it. */
  restore(text: string): void {
    const next: Tables = new Map([...this.tables].map(([t, cs]) => [t, new Map([...cs].map(([c, rs]) => [c, rs.map((r) => [...r])]))]));
    let table: Map<string, string[][]> | null = null;
    let tname = '';
    text.split('\n').forEach((raw, i) => {
      const line = raw.trim();
      const fail = (why: string) => {
        throw new Error(`restore line ${i + 1} (${line}): ${why}`);
      };
      if (line === '' || line.startsWith('#')) return;
      if (line.startsWith('*')) {
        tname = line.slice(1);
        table = next.get(tname) ?? null;
        if (!table) fail('unknown table');
        return;
      }
      if (!table) return fail('outside a table');
      const t: Map<string, string[][]> = table;
      if (line === 'COMMIT') {
        for (const [c, rules] of t) {
          for (const r of rules) {
            const to = target(r);
            if (to && !TARGETS.has(to) && !t.has(to)) fail(`chain ${c} jumps to missing chain ${to}`);
          }
        }
        table = null;
        return;
      }
      if (line.startsWith(':')) {
        const name = line.slice(1).split(' ')[0]!;
        if (!BUILTIN[tname]!.includes(name)) t.set(name, []);
        return;
      }
      const tk = tokens(line);
      const [op, chain] = tk;
      // A listing of the whole table (iptables-nft's cache hint) changes nothing.
      if (op === '-S' && !chain) return;
      if (!chain || !t.has(chain)) return fail(`no chain ${chain}`);
      const rules = t.get(chain)!;
      switch (op) {
        case '-A':
          rules.push(tk.slice(2));
          break;
        case '-I': {
          const pos = /^\d+$/.test(tk[2]!) ? Number(tk[2]) : 1;
          rules.splice(pos - 1, 0, tk.slice(/^\d+$/.test(tk[2]!) ? 3 : 2));
          break;
        }
        case '-D': {
          const want = tk.slice(2).join(' ');
          const at = rules.findIndex((r) => r.join(' ') === want);
          if (at < 0) fail('no such rule');
          rules.splice(at, 1);
          break;
        }
        case '-X': {
          if (BUILTIN[tname]!.includes(chain)) fail('built-in chain');
          for (const [c, rs] of t) if (rs.some((r) => target(r) === chain)) fail(`still referenced from ${c}`);
          t.delete(chain);
          break;
        }
        default:
          fail('unknown command');
      }
    });
    this.tables = next;
    this.restores++;
  }

  /** iptables-save-like text (our own rule spelling, not the kernel's normalized one). */
  save(): string {
    const out: string[] = [];
    for (const [t, chains] of this.tables) {
      out.push(`*${t}`);
      for (const c of chains.keys()) out.push(BUILTIN[t]!.includes(c) ? `:${c} ACCEPT [0:0]` : `:${c} - [0:0]`);
      for (const [c, rules] of chains) for (const r of rules) out.push(['-A', c, ...r].join(' '));
      out.push('COMMIT');
    }
    return `${out.join('\n')}\n`;
  }

  /** `iptables -t TABLE -S CHAIN` succeeds. */
  hasChain(table: string, chain: string): boolean {
    return this.tables.get(table)?.has(chain) ?? false;
  }

  chains(table: string): string[] {
    return [...(this.tables.get(table)?.keys() ?? [])].filter((c) => !BUILTIN[table]!.includes(c));
  }

  /** kube-proxy's checkIPTablesRuleJumps: every jump resolves, and every chain of ours is jumped to. */
  checkJumps(): string[] {
    const problems: string[] = [];
    for (const [t, chains] of this.tables) {
      const referenced = new Set<string>();
      for (const [c, rules] of chains) {
        for (const r of rules) {
          const to = target(r);
          if (!to || TARGETS.has(to)) continue;
          if (!chains.has(to)) problems.push(`${t} ${c} jumps to missing ${to}`);
          referenced.add(to);
        }
      }
      for (const c of chains.keys()) {
        if (!BUILTIN[t]!.includes(c) && !TOP_LEVEL.has(c) && !referenced.has(c)) problems.push(`${t} chain ${c} is never jumped to`);
      }
    }
    return problems;
  }
}

// ---- the packet tracer ---------------------------------------------------------------------------

export interface Packet {
  sourceIP: string;
  protocol: 'tcp' | 'udp' | 'sctp';
  destIP: string;
  destPort: number;
  /** The interface it came in on; none for the node's own packets (OUTPUT). */
  inInterface?: string;
}

interface State {
  dst: string;
  dport: number;
  mark: number;
  dnat: boolean;
  verdict: 'ACCEPT' | 'DROP' | 'REJECT' | null;
  masq: boolean;
}

function ipBits(ip: string): { v: bigint; w: number } {
  if (!ip.includes(':')) return { v: ip.split('.').reduce((a, x) => (a << 8n) | BigInt(Number(x)), 0n), w: 32 };
  const [h, t] = ip.split('::');
  const head = h ? h.split(':') : [];
  const tail = t !== undefined ? (t ? t.split(':') : []) : [];
  const g = t !== undefined ? [...head, ...Array<string>(8 - head.length - tail.length).fill('0'), ...tail] : head;
  return { v: g.reduce((a, x) => (a << 16n) | BigInt(parseInt(x, 16)), 0n), w: 128 };
}

export function inCIDR(ip: string, cidr: string): boolean {
  const [net, len] = cidr.split('/');
  const a = ipBits(ip);
  const b = ipBits(net!);
  if (a.w !== b.w) return false;
  const s = BigInt(a.w - (len === undefined ? a.w : Number(len)));
  return a.v >> s === b.v >> s;
}

const unquote = (s: string) => s.replace(/^"|"$/g, '');

/**
 * Walks a new connection's first packet through PREROUTING (OUTPUT when the source is a node
 * address), the filter table and POSTROUTING. `statistic` rules are followed both ways, so the
 * result lists every endpoint the packet can reach; `recent --rcheck` never matches (no history).
 */
export function tracePacket(ipt: FakeIptables, pkt: Packet, nodeIPs: readonly string[]): { output: string; masq: boolean | 'mixed' } {
  const local = (ip: string) => nodeIPs.includes(ip) || ip.startsWith('127.');
  const fromNode = local(pkt.sourceIP);

  const matches = (r: string[], st: State): boolean | 'branch' => {
    let branch = false;
    for (let i = 0; i < r.length; i++) {
      const neg = r[i] === '!';
      if (neg) i++;
      const opt = r[i]!;
      const arg = r[i + 1] ?? '';
      let ok = true;
      switch (opt) {
        case '-s': ok = inCIDR(pkt.sourceIP, arg); i++; break;
        case '-i': ok = arg.endsWith('+') ? (pkt.inInterface ?? '').startsWith(arg.slice(0, -1)) && pkt.inInterface !== undefined : pkt.inInterface === arg; i++; break;
        case '-d': ok = inCIDR(st.dst, arg); i++; break;
        case '-p': ok = arg === pkt.protocol; i++; break;
        case '--dport': ok = Number(arg) === st.dport; i++; break;
        case '--dst-type': ok = arg === 'LOCAL' && local(st.dst); i++; break;
        case '--src-type': ok = arg === 'LOCAL' && fromNode; i++; break;
        case '--ctstate': ok = arg.split(',').includes('NEW'); i++; break;
        case '--mark': {
          const [v, m] = arg.split('/').map((x) => Number(x));
          ok = (st.mark & (m ?? 0xffffffff)) === v;
          i++;
          break;
        }
        case '--rcheck': ok = false; break;
        case '--probability': branch = true; i++; break;
        case '-m': case '--comment': case '--mode': case '--name': case '--seconds': i++; break;
        case '--reap': case '--set': break;
        case '-j': return branch ? 'branch' : true;
        default: break;
      }
      if (neg) ok = !ok;
      if (!ok) return false;
    }
    return branch ? 'branch' : true;
  };

  /** Runs a chain; returns the states that leave it (RETURN or falling off the end) or end in a verdict. */
  const runChain = (table: string, chain: string, st: State, depth = 0): State[] => {
    if (depth > 50) throw new Error(`loop at ${chain}`);
    const rules = ipt.tables.get(table)?.get(chain);
    if (!rules) throw new Error(`no chain ${table} ${chain}`);
    let live: State[] = [st];
    const done: State[] = [];
    for (const r of rules) {
      const next: State[] = [];
      for (const s of live) {
        const m = matches(r, s);
        if (m === false) {
          next.push(s);
          continue;
        }
        if (m === 'branch') next.push({ ...s });
        const t = target(r);
        const ti = r.indexOf('-j');
        if (!t) {
          next.push(s);
        } else if (t === 'RETURN') {
          done.push(s);
        } else if (t === 'ACCEPT' || t === 'DROP' || t === 'REJECT') {
          done.push({ ...s, verdict: t });
        } else if (t === 'MARK') {
          const op = r[ti + 2];
          const v = Number(r[ti + 3]);
          next.push({ ...s, mark: op === '--or-mark' ? s.mark | v : op === '--xor-mark' ? s.mark ^ v : v });
        } else if (t === 'MASQUERADE') {
          done.push({ ...s, masq: true, verdict: 'ACCEPT' });
        } else if (t === 'DNAT') {
          const to = r[r.indexOf('--to-destination') + 1]!;
          const m6 = /^\[(.*)\]:(\d+)$/.exec(to);
          const [ip, port] = m6 ? [m6[1]!, m6[2]!] : to.split(':');
          done.push({ ...s, dst: ip!, dport: Number(port), dnat: true, verdict: 'ACCEPT' });
        } else {
          for (const o of runChain(table, t, { ...s, verdict: null }, depth + 1)) (o.verdict ? done : next).push(o);
        }
      }
      live = next;
      if (live.length === 0) break;
    }
    return [...done, ...live];
  };

  const outputs: { out: string; masq: boolean }[] = [];
  const start: State = { dst: pkt.destIP, dport: pkt.destPort, mark: 0, dnat: false, verdict: null, masq: false };
  for (const afterNat of runChain('nat', fromNode ? 'OUTPUT' : 'PREROUTING', start)) {
    const s = { ...afterNat, verdict: null };
    const filterChain = fromNode ? 'OUTPUT' : local(s.dst) ? 'INPUT' : 'FORWARD';
    const filtered = runChain('filter', filterChain, s);
    const verdicts = new Set(filtered.map((f) => f.verdict));
    if (verdicts.size !== 1) throw new Error(`filter forked: ${[...verdicts].join(',')}`);
    const v = filtered[0]!.verdict;
    if (v === 'DROP' || v === 'REJECT') {
      outputs.push({ out: v, masq: false });
      continue;
    }
    const post = runChain('nat', 'POSTROUTING', { ...filtered[0]!, verdict: null });
    const masq = post.some((p) => p.masq);
    outputs.push({ out: s.dnat ? (s.dst.includes(':') ? `[${s.dst}]:${s.dport}` : `${s.dst}:${s.dport}`) : 'PASS', masq });
  }
  const outs = [...new Set(outputs.map((o) => o.out))].sort();
  const masqs = new Set(outputs.map((o) => o.masq));
  return { output: outs.join(', '), masq: masqs.size === 1 ? [...masqs][0]! : 'mixed' };
}

export { unquote };
