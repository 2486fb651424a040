// `bench sync --vm`: the same benchmark inside the qemu VM (src/vm/qemu.ts), whose kernel
// (Debian's) has IP_VS. Every mode runs there on that one kernel, interleaved as on the host,
// so ipvs is compared with the others on equal terms. The guest is emulated (TCG): its times
// are far above the host's; the comparison between modes is what the run is for.
import { benchJobScript, runBenchInVm } from './vm.js';
import { syncGuestArgs, syncVmTimeoutMs, type SyncBenchOptions } from './sync-options.js';
import type { SyncBenchReport } from './sync-report.js';

// Every tool a mode runs is emulated too: give each the worker's whole timeout, not 60 s.
const guestEnv = (o: SyncBenchOptions) => ({ EKP_COMMAND_TIMEOUT_S: String(o.timeoutS) });

/** The job script: scripts/vm/bench-guest.sh runs `bench sync` with these flags and --json. */
export function syncJobScript(root: string, node: string, o: SyncBenchOptions): string {
  return benchJobScript(root, node, 'sync', syncGuestArgs(o), guestEnv(o));
}

export async function runSyncBenchInVm(o: SyncBenchOptions): Promise<SyncBenchReport> {
  const { result, ms } = await runBenchInVm<SyncBenchReport>({
    suite: 'sync', args: syncGuestArgs(o), env: guestEnv(o), memoryMB: 4096, timeoutMs: syncVmTimeoutMs(o),
    // The guest's progress lines ("sync: ipvs at 1000 services…") are the run's progress.
    show: (l) => {
      const text = l.replace(/^.*\r?\x1b\[K/, '');
      return text.startsWith('sync:') || text.startsWith('EKP-VM') || text.startsWith('bench sync:') ? { text, keep: false } : null;
    },
  });
  result.notes.push(`the VM run took ${Math.round(ms / 1000)} s (boot included)`);
  return result;
}
