// Label and field selectors as the API server parses them (the subset kube-proxy and kubectl
// use): `k`, `!k`, `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, comma = AND.

export type Obj = Record<string, unknown>;
export type Matcher = (obj: Obj) => boolean;

export class SelectorError extends Error {}

/** Splits on commas outside parentheses. */
function requirements(selector: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of selector) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      out.push(cur.trim());
      cur = '';
    } else {
      cur += ch;
    }
  }
  out.push(cur.trim());
  return out.filter((r) => r !== '');
}

function labelsOf(obj: Obj): Record<string, string> {
  const meta = obj.metadata as { labels?: Record<string, string> } | undefined;
  return meta?.labels ?? {};
}

export function parseLabelSelector(selector: string | null): Matcher {
  if (!selector) return () => true;
  const tests = requirements(selector).map((req): Matcher => {
    let m: RegExpMatchArray | null;
    if ((m = req.match(/^!\s*([\w./-]+)$/))) {
      const key = m[1]!;
      return (o) => !(key in labelsOf(o));
    }
    if ((m = req.match(/^([\w./-]+)\s*(==|=|!=)\s*([\w./-]*)$/))) {
      const [, key, op, value] = m as unknown as [string, string, string, string];
      return op === '!=' ? (o) => labelsOf(o)[key] !== value : (o) => labelsOf(o)[key] === value;
    }
    if ((m = req.match(/^([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)$/))) {
      const [, key, op, list] = m as unknown as [string, string, string, string];
      const values = new Set(list.split(',').map((v) => v.trim()));
      return op === 'in'
        ? (o) => key in labelsOf(o) && values.has(labelsOf(o)[key]!)
        : (o) => !(key in labelsOf(o)) || !values.has(labelsOf(o)[key]!);
    }
    if ((m = req.match(/^([\w./-]+)$/))) {
      const key = m[1]!;
      return (o) => key in labelsOf(o);
    }
    throw new SelectorError(`unable to parse requirement: ${JSON.stringify(req)}`);
  });
  return (o) => tests.every((t) => t(o));
}

const FIELDS: Record<string, (o: Obj) => string> = {
  'metadata.name': (o) => String((o.metadata as Obj | undefined)?.name ?? ''),
  'metadata.namespace': (o) => String((o.metadata as Obj | undefined)?.namespace ?? ''),
};

export function parseFieldSelector(selector: string | null): Matcher {
  if (!selector) return () => true;
  const tests = requirements(selector).map((req): Matcher => {
    const m = req.match(/^([\w.]+)\s*(==|=|!=)\s*(.*)$/);
    if (!m) throw new SelectorError(`invalid field selector requirement: ${JSON.stringify(req)}`);
    const [, field, op, value] = m as unknown as [string, string, string, string];
    const get = FIELDS[field];
    if (!get) throw new SelectorError(`field label not supported: ${field}`);
    return op === '!=' ? (o) => get(o) !== value : (o) => get(o) === value;
  });
  return (o) => tests.every((t) => t(o));
}
