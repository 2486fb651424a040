import { decideMode, probeFeatures, realProbeEnv, type Features, type ModeDecision } from '../probe/index.js';

export interface ProbeReport extends ModeDecision {
  features: Features;
}

export function probeReport(): ProbeReport {
  const features = probeFeatures(realProbeEnv);
  return { ...decideMode(features), features };
}

export function formatProbe(r: ProbeReport): string {
  const width = Math.max(...Object.keys(r.features).map((k) => k.length));
  const lines = ['Features:'];
  for (const [name, f] of Object.entries(r.features)) {
    lines.push(`  ${name.padEnd(width)}  ${f.available ? 'yes' : 'no '}  ${f.detail}`);
  }
  lines.push('', 'Proxy modes (auto picks the first usable):');
  for (const [mode, why] of Object.entries(r.reasons)) {
    lines.push(`  ${mode.padEnd(10)} ${why === null ? 'usable' : `no: ${why}`}`);
  }
  lines.push('', `auto would choose: ${r.mode}`);
  return lines.join('\n');
}

export function runProbe(args: string[]): number {
  const json = args.includes('--json');
  const unknown = args.filter((a) => a !== '--json');
  if (unknown.length) {
    process.stderr.write(`probe: unknown argument ${unknown[0]} (usage: ebpf-kube-proxy probe [--json])\n`);
    return 2;
  }
  const report = probeReport();
  process.stdout.write(json ? `${JSON.stringify(report, null, 2)}\n` : `${formatProbe(report)}\n`);
  return 0;
}
