// What `bench sync` prints: one row per mode, cold and update times per size, then the notes
// (modes left out and why, where the numbers were measured).

export interface SyncResult {
  mode: string;
  services: number;
  cold_ms: number;
  update_ms: number;
  error?: string;
}

/** The --json output, the same on the host and from the VM. */
export interface SyncBenchReport {
  results: SyncResult[];
  /** Modes left out (ipvs without IP_VS), where it ran (the VM): plain sentences. */
  notes: string[];
}

export function syncTable(r: SyncBenchReport, modes: readonly string[], sizes: readonly number[]): string {
  const lines = [
    'program N services x 10 endpoints from cold, then one endpoint change (ms; each in a fresh netns)',
    '',
    `mode        ${sizes.map((n) => `${n.toLocaleString('en')} cold`.padStart(14) + '  update'.padStart(10)).join('  ')}`,
  ];
  for (const m of modes) {
    const cells = sizes.map((n) => {
      const x = r.results.find((y) => y.mode === m && y.services === n);
      if (!x) return 'not run'.padStart(24);
      return x.error ? x.error.slice(0, 24).padStart(24) : `${String(x.cold_ms).padStart(14)}${String(x.update_ms).padStart(10)}`;
    });
    lines.push(`${m.padEnd(10)}  ${cells.join('  ')}`);
  }
  const failed = r.results.filter((x) => x.error);
  if (failed.length > 0) lines.push('', ...failed.map((x) => `${x.mode} at ${x.services.toLocaleString('en')}: ${x.error}`));
  if (r.notes.length > 0) lines.push('', ...r.notes.map((n) => `note: ${n}`));
  return `${lines.join('\n')}\n`;
}
