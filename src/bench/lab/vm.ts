// `bench lab --vm`: the same benchmark inside the qemu VM (src/vm/qemu.ts),
// whose kernel (Debian's) has IP_VS. Every mode runs there on that one
// kernel, so ipvs is compared with the others on equal terms. The guest is
// emulated (TCG): its absolute rates are far below the host's; the ratios
// between modes are what the run is for.
import { spawnSync } from 'node:child_process';
import { runBenchInVm } from '../vm.js';
import type { LabBenchOptions } from './options.js';
import type { LabBenchResult } from './report.js';

/** Flags for the guest's `bench lab`: everything explicit, so its defaults cannot differ from ours. */
export function guestArgs(o: LabBenchOptions): string[] {
  return [
    '--modes', o.modes.join(','), '--scales', o.scales.join(','), '--filler-endpoints', String(o.fillerEndpoints),
    '--duration', String(o.durationS), '--rounds', String(o.rounds), '--connections', String(o.connections),
    '--threads', String(o.threads), '--program-timeout', String(o.programTimeoutS), '--lab-name', o.labName,
  ];
}

/** An upper bound for the whole guest run: every programming may take its timeout, every measurement its length plus setup. */
export function vmTimeoutMs(o: LabBenchOptions): number {
  const proxies = o.modes.filter((m) => m !== 'direct').length;
  const perScale = proxies * (o.programTimeoutS + 60) + o.rounds * 2 * o.modes.length * (o.durationS + 30) + 120;
  return (600 + o.scales.length * perScale) * 1000;
}

export async function runLabBenchInVm(o: LabBenchOptions): Promise<LabBenchResult> {
  if (spawnSync('wrk', ['--version']).error) throw new Error('--vm: wrk is not installed (apt-get install wrk); the guest runs the host\'s userland');
  const { result } = await runBenchInVm<LabBenchResult>({
    suite: 'lab', args: [...guestArgs(o), '--out', '/run/ekp-vm/results'], memoryMB: 8192, timeoutMs: vmTimeoutMs(o),
    // The guest's progress bar is the run's progress bar.
    show: (l) => (l.startsWith('[') ? { text: l, keep: false } : l.startsWith('EKP-VM') || l.startsWith('bench lab:') ? { text: l, keep: true } : null),
  });
  result.options.vm = true;
  return result;
}
