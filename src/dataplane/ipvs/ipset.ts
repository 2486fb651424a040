// Our ipsets as `ipset save` prints them, and the `ipset restore` input that turns them into
// the plan's. Pure.
import { isOurSet, SET_KIND_LIST, SET_TYPE, setName } from './names.js';

export interface KernelSet {
  type: string;
  entries: Set<string>;
}

/** Our sets (by name) from `ipset save`; other sets are ignored. */
export function parseIpsetSave(text: string): Map<string, KernelSet> {
  const out = new Map<string, KernelSet>();
  for (const line of text.split('\n')) {
    const t = line.trim().split(/\s+/);
    if (t.length < 3 || !isOurSet(t[1]!)) continue;
    if (t[0] === 'create') out.set(t[1]!, { type: t[2]!, entries: new Set() });
    else if (t[0] === 'add') out.get(t[1]!)?.entries.add(normalizeEntry(t[2]!, t[1]!.startsWith('EKP6-') ? 6 : 4));
  }
  return out;
}

/** ipset prints host nets without /32 (/128); a plan never writes them with one. */
function normalizeEntry(e: string, family: 4 | 6): string {
  return e.replace(family === 4 ? /\/32$/ : /\/128$/, '');
}

export const SET_MAXELEM = 262_144;

function createLine(name: string, type: string): string {
  // A port bitmap has neither family nor hash: it serves either family's rules.
  if (type === 'bitmap:port') return `create ${name} bitmap:port range 0-65535`;
  return `create ${name} ${type} family ${name.startsWith('EKP6-') ? 'inet6' : 'inet'} hashsize 1024 maxelem ${SET_MAXELEM}`;
}

export interface IpsetDiff {
  /** Creates and adds: run before the rules and virtual servers that use them. */
  before: string[];
  /** Deletes of stale entries: run after. */
  after: string[];
  added: number;
  deleted: number;
}

/**
 * `ipset -exist restore` input. A set of ours with the wrong type (never made by this version) is
 * destroyed and made again only by --cleanup; here its entries are simply rewritten.
 */
export function diffIpsets(kernel: ReadonlyMap<string, KernelSet>, want: ReadonlyMap<string, ReadonlySet<string>>): IpsetDiff {
  const before: string[] = [];
  const after: string[] = [];
  let added = 0;
  let deleted = 0;
  for (const family of [4, 6] as const) {
    for (const kind of SET_KIND_LIST) {
      const name = setName(kind, family);
      const have = kernel.get(name);
      if (!have) before.push(createLine(name, SET_TYPE[kind]));
      const wanted = want.get(name) ?? new Set<string>();
      for (const e of wanted) {
        if (have?.entries.has(e)) continue;
        before.push(`add ${name} ${e}`);
        added++;
      }
      for (const e of have?.entries ?? []) {
        if (wanted.has(e)) continue;
        after.push(`del ${name} ${e}`);
        deleted++;
      }
    }
  }
  return { before, after, added, deleted };
}
