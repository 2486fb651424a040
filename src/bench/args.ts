// Flag reading shared by the bench suites with many flags (lab, sync): `--flag value` and
// `--flag=value`, integer lists, a mode list checked against the suite's modes.

export class UsageError extends Error {}

/**
 * Calls `on(flag, value)` for every argument; `value()` takes the flag's value (inline after
 * `=`, else the next argument). `on` returns false for a flag it does not know.
 */
export function readFlags(args: readonly string[], on: (flag: string, value: () => string) => boolean): void {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const eq = a.startsWith('--') ? a.indexOf('=') : -1;
    const [flag, inline] = eq > 0 ? [a.slice(0, eq), a.slice(eq + 1)] : [a, undefined];
    const value = () => {
      const v = inline ?? args[++i];
      if (v === undefined) throw new UsageError(`${flag} needs a value`);
      return v;
    };
    if (!on(flag, value)) throw new UsageError(`unknown argument ${JSON.stringify(a)}`);
  }
}

export function intList(flag: string, v: string, min: number, max: number): number[] {
  const out = v.split(',').map((s) => Number(s.replace(/_/g, '')));
  if (!out.length || out.some((n) => !Number.isInteger(n) || n < min || n > max)) {
    throw new UsageError(`${flag}: expected integers in ${min}..${max}, got ${JSON.stringify(v)}`);
  }
  return out;
}

export function int(flag: string, v: string | undefined, min: number, max: number): number {
  const n = Number(v);
  if (v === undefined || !Number.isInteger(n) || n < min || n > max) throw new UsageError(`${flag}: expected an integer in ${min}..${max}, got ${JSON.stringify(v)}`);
  return n;
}

/** A comma-separated list of modes, each one of `known`, none twice. */
export function modeList<M extends string>(flag: string, v: string, known: readonly M[]): M[] {
  const modes = v.split(',');
  for (const m of modes) if (!(known as readonly string[]).includes(m)) throw new UsageError(`${flag}: unknown mode ${JSON.stringify(m)} (known: ${known.join(', ')})`);
  if (new Set(modes).size !== modes.length) throw new UsageError(`${flag}: ${JSON.stringify(v)} names a mode twice`);
  return modes as M[];
}
