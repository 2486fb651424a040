// A progress bar on stderr for runs that take many minutes: weighted steps
// (a measurement weighs its duration in seconds), an ETA from the pace so far.
// Without a terminal it prints one line per step instead of redrawing.

export class Progress {
  private done = 0;
  private readonly started = Date.now();
  private readonly tty: boolean;

  constructor(private readonly total: number, private readonly write: (s: string) => void = (s) => process.stderr.write(s), tty = process.stderr.isTTY === true) {
    this.tty = tty;
  }

  /** Shows `label` as the step now running; `weight` is added once it finishes (`advance`). */
  show(label: string): void {
    const frac = this.total > 0 ? Math.min(1, this.done / this.total) : 1;
    const width = 24;
    const filled = Math.round(frac * width);
    const elapsed = (Date.now() - this.started) / 1000;
    const eta = this.done > 0 ? (elapsed / this.done) * (this.total - this.done) : NaN;
    const line = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(Math.floor(frac * 100)).padStart(3)}%  ${formatSeconds(elapsed)} elapsed${Number.isFinite(eta) ? `, ~${formatSeconds(eta)} left` : ''}  ${label}`;
    this.write(this.tty ? `\r\x1b[K${line}` : `${line}\n`);
  }

  advance(weight: number): void {
    this.done += weight;
  }

  finish(): void {
    if (this.tty) this.write('\r\x1b[K');
  }
}

export function formatSeconds(s: number): string {
  if (s < 60) return `${Math.round(s)}s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m}m${String(Math.round(s % 60)).padStart(2, '0')}s` : `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}
