/** Parses a Go duration ("30s", "1m0s", "1h30m", "250ms", "0s") into milliseconds; null if malformed. */
export function parseDuration(s: string): number | null {
  if (s === '0') return 0;
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let matched = 0;
  for (let m = re.exec(s); m; m = re.exec(s)) {
    const n = Number(m[1]);
    const unit = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms'];
    total += n * unit;
    matched = re.lastIndex;
  }
  return matched === s.length && s.length > 0 ? total : null;
}
