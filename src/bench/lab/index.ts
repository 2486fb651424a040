// `bench lab`: every mode on the same lab, interleaved; see options.ts for the flags.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchSuite } from '../index.js';
import { UsageError } from '../args.js';
import { LAB_BENCH_USAGE, parseLabBenchArgs, type LabBenchOptions } from './options.js';
import { markdownReport, svgChart, type LabBenchResult } from './report.js';

/** Writes lab-<time>.{json,md,svg} and latest.{json,md,svg}; returns the paths of the first three. */
export function writeResults(outDir: string, r: LabBenchResult): string[] {
  mkdirSync(outDir, { recursive: true });
  const stamp = r.date.replace(/[:.]/g, '-');
  const files: [string, string][] = [['json', `${JSON.stringify(r, null, 2)}\n`], ['md', markdownReport(r)], ['svg', svgChart(r)]];
  const paths: string[] = [];
  for (const [ext, text] of files) {
    const p = join(outDir, `lab-${stamp}.${ext}`);
    writeFileSync(p, text);
    writeFileSync(join(outDir, `latest.${ext}`), text);
    paths.push(p);
  }
  return paths;
}

async function runLabBench(o: LabBenchOptions): Promise<LabBenchResult> {
  if (o.vm) return (await import('./vm.js')).runLabBenchInVm(o);
  if (o.modes.includes('ipvs')) {
    const { probeFeatures, realProbeEnv } = await import('../../probe/index.js');
    const ipvs = probeFeatures(realProbeEnv).ip_vs;
    if (!ipvs.available) throw new UsageError(`ipvs: ${ipvs.detail}; run the benchmark with --vm, where Debian's kernel has IP_VS`);
  }
  return (await import('./run.js')).runLabBenchHere(o);
}

export const suite: BenchSuite = {
  describe: 'every mode on the lab, interleaved, with wrk: new connections/s, keep-alive requests/s, p50/p99, programming time, vs direct pod access (1, 1,000, 10,000 services)',
  async run(args) {
    if (args.includes('--help') || args.includes('-h')) {
      process.stdout.write(LAB_BENCH_USAGE);
      return 0;
    }
    let o: LabBenchOptions;
    try {
      o = parseLabBenchArgs(args);
    } catch (err) {
      if (!(err instanceof UsageError)) throw err;
      process.stderr.write(`bench lab: ${err.message}\n\n${LAB_BENCH_USAGE}`);
      return 2;
    }
    let r: LabBenchResult;
    try {
      r = await runLabBench(o);
    } catch (err) {
      process.stderr.write(`bench lab: ${(err as Error).message}\n`);
      return err instanceof UsageError ? 2 : 1;
    }
    const paths = writeResults(o.outDir, r);
    process.stdout.write(o.json ? `${JSON.stringify(r)}\n` : `${markdownReport(r)}\nwritten: ${paths.join(', ')}\n`);
    return 0;
  },
};
