// Results of `bench lab`: medians over rounds, ratios to the no-proxy
// baseline, and the three renderings (JSON, markdown, SVG). Pure.
import type { LabBenchMode, LabBenchOptions } from './options.js';
import type { WrkKind } from './wrk.js';

export interface Measurement {
  scale: number;
  mode: LabBenchMode;
  kind: WrkKind;
  round: number;
  rps: number;
  p50_us: number;
  p99_us: number;
  errors: number;
  /** wrk's error counts by kind, when there were any: what failed tells why. */
  error_kinds?: { connect: number; read: number; write: number; status: number; timeout: number };
}

export interface Programming {
  scale: number;
  mode: LabBenchMode;
  /** The first full sync's duration (the proxy's kubeproxy_sync_full_proxy_rules_duration_seconds); null when it failed or timed out. */
  ms: number | null;
  /** Proxy start to healthy: process start, loading programs, the first sync. */
  ready_ms?: number;
  error?: string;
}

export interface PacketCost {
  scale: number;
  kind: WrkKind;
  /** Mean ns per program run over every ebpf program run on the node during the measurement; null (JSON) when nothing ran. */
  ns: number | null;
  runs: number;
  /** ns of every program run per HTTP request: what the datapath costs a request, whichever hooks ran (null when none was answered). */
  ns_per_request?: number | null;
}

export interface Summary {
  scale: number;
  mode: LabBenchMode;
  kind: WrkKind;
  rps: number;
  p50_us: number;
  p99_us: number;
  errors: number;
  /** rps / direct's rps at the same scale; null without a baseline. */
  vs_direct: number | null;
}

export interface LabBenchResult {
  version: 1;
  date: string;
  machine: { kernel: string; cpus: number; vm: boolean };
  options: Omit<LabBenchOptions, 'json' | 'outDir'>;
  programming: Programming[];
  measurements: Measurement[];
  packet_ns: PacketCost[];
  summary: Summary[];
}

export function median(xs: readonly number[]): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function summarize(measurements: readonly Measurement[]): Summary[] {
  const groups = new Map<string, Measurement[]>();
  for (const m of measurements) {
    const k = `${m.scale}\0${m.mode}\0${m.kind}`;
    groups.set(k, [...(groups.get(k) ?? []), m]);
  }
  const out: Summary[] = [];
  for (const ms of groups.values()) {
    const { scale, mode, kind } = ms[0]!;
    out.push({
      scale, mode, kind,
      rps: median(ms.map((m) => m.rps)),
      p50_us: median(ms.map((m) => m.p50_us)),
      p99_us: median(ms.map((m) => m.p99_us)),
      errors: ms.reduce((a, m) => a + m.errors, 0),
      vs_direct: null,
    });
  }
  for (const s of out) {
    const base = out.find((b) => b.mode === 'direct' && b.scale === s.scale && b.kind === s.kind);
    if (base && base.rps > 0) s.vs_direct = s.rps / base.rps;
  }
  return out;
}

const fmtInt = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en') : '—');
const fmtRatio = (r: number | null) => (r === null || !Number.isFinite(r) ? '—' : `${r.toFixed(2)}×`);
function fmtUs(us: number): string {
  if (!Number.isFinite(us)) return '—';
  return us >= 1000 ? `${(us / 1000).toFixed(2)} ms` : `${Math.round(us)} µs`;
}
function fmtMs(p: Programming | undefined): string {
  if (!p) return '—';
  if (p.ms === null) return p.error ? `failed: ${p.error.slice(0, 40)}` : 'failed';
  return p.ms >= 10_000 ? `${(p.ms / 1000).toFixed(1)} s` : `${Math.round(p.ms)} ms`;
}

export function markdownReport(r: LabBenchResult): string {
  const o = r.options;
  const lines: string[] = [
    `Lab benchmark, ${r.date.slice(0, 10)}: Linux ${r.machine.kernel}${r.machine.vm ? ' (qemu VM, TCG)' : ''}, ${r.machine.cpus} CPUs; ` +
      `wrk -t${o.threads} -c${o.connections}, ${o.durationS} s per measurement, median of ${o.rounds} interleaved rounds; ` +
      `client → node → 3 pods (NodePort, externalTrafficPolicy Local); other services ClusterIP with ${o.fillerEndpoints} endpoints each.`,
    '',
  ];
  for (const scale of o.scales) {
    lines.push(`**${scale.toLocaleString('en')} service${scale === 1 ? '' : 's'}**`, '');
    lines.push('| mode | new conn/s | × direct | p50 | p99 | keep-alive req/s | × direct | p50 | p99 | programmed in |');
    lines.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const mode of o.modes) {
      const n = r.summary.find((s) => s.scale === scale && s.mode === mode && s.kind === 'new_conn');
      const k = r.summary.find((s) => s.scale === scale && s.mode === mode && s.kind === 'keepalive');
      const p = r.programming.find((x) => x.scale === scale && x.mode === mode);
      const errs = (n?.errors ?? 0) + (k?.errors ?? 0);
      const name = errs ? `${mode} (${errs} errors)` : mode;
      const cells = (s: Summary | undefined) => (s ? [fmtInt(s.rps), fmtRatio(s.vs_direct), fmtUs(s.p50_us), fmtUs(s.p99_us)] : ['—', '—', '—', '—']);
      lines.push(`| ${name} | ${[...cells(n), ...cells(k), mode === 'direct' ? '(no proxy)' : fmtMs(p)].join(' | ')} |`);
    }
    const costs = r.packet_ns.filter((c) => c.scale === scale);
    if (costs.length) {
      const perRequest = (c: PacketCost) => (c.ns_per_request != null ? `, ${c.ns_per_request.toFixed(0)} ns per request` : '');
      lines.push('', `ebpf programs on the node: ${costs.map((c) => `${c.runs && c.ns !== null ? c.ns.toFixed(0) : '—'} ns per run${perRequest(c)} during ${c.kind === 'new_conn' ? 'new connections' : 'keep-alive'}`).join('; ')} (BPF_ENABLE_STATS).`);
    }
    lines.push('');
  }
  return lines.join('\n');
}

const COLORS: Record<LabBenchMode, string> = {
  direct: '#9e9e9e', ebpf: '#2e7d32', nftables: '#1565c0', iptables: '#ef6c00', ipvs: '#6a1b9a', userspace: '#c62828',
};

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** One panel: groups by scale, a bar per mode, height = rate relative to direct. */
function panel(r: LabBenchResult, kind: WrkKind, title: string, y0: number): string {
  const modes = r.options.modes;
  const scales = r.options.scales;
  const left = 60, width = 860, height = 220, top = y0 + 40;
  const values = r.summary.filter((s) => s.kind === kind).map((s) => s.vs_direct ?? 0);
  const max = Math.max(1.2, ...values.map((v) => Math.ceil(v * 5) / 5));
  const y = (v: number) => top + height - (v / max) * height;
  const group = width / scales.length;
  const bar = Math.min(40, (group - 30) / modes.length);
  const out: string[] = [`<text x="${left}" y="${y0 + 24}" font-size="15" font-weight="bold">${esc(title)}</text>`];
  for (let t = 0; t <= max + 1e-9; t += 0.2) {
    const yy = y(t).toFixed(1);
    out.push(`<line x1="${left}" x2="${left + width}" y1="${yy}" y2="${yy}" stroke="#e0e0e0"/>`, `<text x="${left - 8}" y="${(y(t) + 4).toFixed(1)}" font-size="11" text-anchor="end">${t.toFixed(1)}×</text>`);
  }
  out.push(`<line x1="${left}" x2="${left + width}" y1="${y(0.9).toFixed(1)}" y2="${y(0.9).toFixed(1)}" stroke="#2e7d32" stroke-dasharray="4 3"/>`);
  scales.forEach((scale, gi) => {
    const gx = left + gi * group + (group - bar * modes.length) / 2;
    modes.forEach((mode, mi) => {
      const s = r.summary.find((x) => x.scale === scale && x.mode === mode && x.kind === kind);
      const v = s?.vs_direct ?? 0;
      const x = gx + mi * bar;
      out.push(`<rect x="${x.toFixed(1)}" y="${y(v).toFixed(1)}" width="${(bar - 3).toFixed(1)}" height="${(top + height - y(v)).toFixed(1)}" fill="${COLORS[mode]}"><title>${esc(`${mode} at ${scale.toLocaleString('en')} service${scale === 1 ? '' : 's'}: ${fmtInt(s?.rps ?? NaN)}/s, ${fmtRatio(s?.vs_direct ?? null)} direct`)}</title></rect>`);
      out.push(`<text x="${(x + (bar - 3) / 2).toFixed(1)}" y="${(y(v) - 4).toFixed(1)}" font-size="10" text-anchor="middle">${s ? v.toFixed(2) : '—'}</text>`);
    });
    out.push(`<text x="${(left + gi * group + group / 2).toFixed(1)}" y="${top + height + 18}" font-size="12" text-anchor="middle">${scale.toLocaleString('en')} service${scale === 1 ? '' : 's'}</text>`);
  });
  return out.join('\n');
}

export function svgChart(r: LabBenchResult): string {
  const legend = r.options.modes.map((m, i) => `<rect x="${60 + i * 120}" y="8" width="12" height="12" fill="${COLORS[m]}"/><text x="${78 + i * 120}" y="19" font-size="12">${m}</text>`).join('\n');
  return [
    '<svg xmlns="http://www.w3.org/2000/svg" width="960" height="640" font-family="sans-serif">',
    '<rect width="960" height="640" fill="white"/>',
    legend,
    panel(r, 'new_conn', 'New connections per second, relative to direct pod access (dashed: 0.9×)', 24),
    panel(r, 'keepalive', 'Keep-alive requests per second, relative to direct pod access (dashed: 0.9×)', 330),
    '</svg>',
    '',
  ].join('\n');
}
