// Reading iptables-save output: which chains exist, which jumps lead into ours, and the restore
// input that removes everything of ours (--cleanup, switching modes) and nothing of anyone else's.
import { isOurChain, isServiceChain, KUBE_MASQ_OFF_CLUSTER } from './names.js';
import { JUMPS, type Jump } from './rules.js';

export interface SavedTable {
  /** Chain → policy ('-' for user-defined chains). */
  readonly chains: Map<string, string>;
  /** "-A CHAIN …" lines, in order. */
  readonly rules: string[];
}

export type Saved = Map<string, SavedTable>;

export function parseSave(text: string): Saved {
  const tables: Saved = new Map();
  let cur: SavedTable | null = null;
  for (const raw of text.split('\n')) {
    const line = raw.trimEnd();
    if (line.startsWith('*')) {
      const name = line.slice(1);
      cur = tables.get(name) ?? { chains: new Map(), rules: [] };
      tables.set(name, cur);
    } else if (!cur || line === '' || line.startsWith('#')) {
      continue;
    } else if (line === 'COMMIT') {
      cur = null;
    } else if (line.startsWith(':')) {
      const [name, policy] = line.slice(1).split(' ');
      if (name) cur.chains.set(name, policy ?? '-');
    } else if (line.startsWith('-A ')) {
      cur.rules.push(line);
    }
  }
  return tables;
}

export function chainOf(rule: string): string {
  return rule.split(' ', 3)[1] ?? '';
}

/** The jump or goto target of a rule, if any. */
export function targetOf(rule: string): string | null {
  const m = / -[jg] (\S+)/.exec(rule);
  return m ? m[1]! : null;
}

/** Per-service chains (and the off-cluster helper) that exist but are not `active`: to delete on a full sync. */
export function staleChains(saved: Saved, active: ReadonlySet<string>): string[] {
  const nat = saved.get('nat');
  if (!nat) return [];
  return [...nat.chains.keys()].filter((c) => (isServiceChain(c) || c === KUBE_MASQ_OFF_CLUSTER) && !active.has(c)).sort();
}

/** Jumps from built-in chains to ours (JUMPS, and `extra`) that are missing. */
export function missingJumps(saved: Saved, extra: readonly Jump[] = []): Jump[] {
  return [...JUMPS, ...extra].filter((j) => {
    const t = saved.get(j.table);
    return !t?.rules.some((r) => chainOf(r) === j.from && targetOf(r) === j.to);
  });
}

/**
 * The restore input that deletes our chains and the jumps into them from built-in chains, or null
 * when there is nothing of ours. A chain of ours that a user's own chain jumps to stays, with
 * everything it leads to: deleting it would fail the whole restore, and flushing it would change
 * what the user's rule does.
 */
export function cleanupRestore(saved: Saved): { text: string; removed: string[] } | null {
  const out: string[] = [];
  const removed: string[] = [];
  for (const [table, t] of saved) {
    const ours = [...t.chains.keys()].filter((c) => t.chains.get(c) === '-' && isOurChain(c));
    if (ours.length === 0) continue;
    const ourSet = new Set(ours);
    const builtin = (c: string) => t.chains.get(c) !== '-';
    const keep = new Set<string>();
    const jumps: string[] = [];
    for (const r of t.rules) {
      const from = chainOf(r);
      const to = targetOf(r);
      if (!to || !ourSet.has(to)) continue;
      if (builtin(from)) jumps.push(r);
      else if (!ourSet.has(from)) keep.add(to);
    }
    // Whatever a kept chain leads to stays as well.
    for (let grew = true; grew;) {
      grew = false;
      for (const r of t.rules) {
        const to = targetOf(r);
        if (keep.has(chainOf(r)) && to && ourSet.has(to) && !keep.has(to)) {
          keep.add(to);
          grew = true;
        }
      }
    }
    const gone = ours.filter((c) => !keep.has(c));
    if (gone.length === 0 && jumps.length === 0) continue;
    out.push(`*${table}`);
    for (const c of gone) out.push(`:${c} - [0:0]`);
    for (const r of jumps) out.push(`-D${r.slice(2)}`);
    for (const c of gone) out.push(`-X ${c}`);
    out.push('COMMIT');
    removed.push(...jumps.map((r) => `${table} ${r}`), ...gone.map((c) => `${table} chain ${c}`));
  }
  return out.length ? { text: `${out.join('\n')}\n`, removed } : null;
}
