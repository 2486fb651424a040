// Go's time.ParseDuration, which kube-proxy's metav1.Duration fields and duration flags go
// through: an optional sign, then one or more number+unit ("1h30m", ".5s", "1.s"), or "0".
const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, '\u00b5s': 1e-3, '\u03bcs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const TERM = /(\d+\.?\d*|\.\d+)(ns|us|\u00b5s|\u03bcs|ms|s|m|h)/y;

/** A Go duration in milliseconds, negative ones included; null if Go would refuse it. */
export function parseGoDuration(s: string): number | null {
  const sign = s[0] === '-' ? -1 : 1;
  const body = s[0] === '-' || s[0] === '+' ? s.slice(1) : s;
  if (body === '0') return 0;
  let total = 0;
  TERM.lastIndex = 0;
  while (TERM.lastIndex < body.length) {
    const m = TERM.exec(body);
    // A unit must end where the next number starts: "1hs" is Go's unknown unit "hs".
    if (!m || (TERM.lastIndex < body.length && !/[\d.]/.test(body[TERM.lastIndex]!))) return null;
    total += Number(m[1]) * UNIT_MS[m[2]!]!;
  }
  return body.length > 0 ? sign * total : null;
}

/** A Go duration of 0 or more ("30s", "1m0s", "250ms", "0"), in milliseconds; null if malformed or negative. */
export function parseDuration(s: string): number | null {
  const ms = parseGoDuration(s);
  return ms === null || ms < 0 ? null : ms + 0; // "-0s" gives -0, which is 0
}
