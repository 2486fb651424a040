// Flags of `bench sync`, parsed and checked before anything runs.
import type { ProxyMode } from '../probe/index.js';
import { int, intList, modeList, readFlags } from './args.js';

/** Every mode bench sync knows, in table order (dataplane/index.ts implements them all). */
export const SYNC_MODES: readonly ProxyMode[] = ['ebpf', 'ipvs', 'nftables', 'iptables', 'userspace'];

export interface SyncBenchOptions {
  modes: ProxyMode[];
  /** Services (× 10 endpoints) per measurement. */
  sizes: number[];
  /** Give up on one mode at one size after this long. */
  timeoutS: number;
  json: boolean;
  /** Run every measurement inside the qemu VM (Debian's kernel, the only one here with IP_VS). */
  vm: boolean;
  /**
   * Run every mode once at WARMUP_SERVICES first, unreported. A freshly booted guest loads each
   * mode's kernel modules (over 9p, emulated) on first use: nftables' first 10 services took 54 s
   * there, its second 2.4 s. Default under --vm.
   */
  warmup: boolean;
}

export const WARMUP_SERVICES = 10;

export const SYNC_DEFAULT_SIZES = [1_000, 10_000];
/**
 * Under TCG emulation (no KVM here) the whole run at 1,000 services, boot and warm-up included,
 * took 6 min on a busy 2-core host (ipvs alone: 46 s cold, 25 s for the endpoint change). Every
 * mode at 10,000 would take half an hour or more (not measured whole: ~10× per mode at least).
 * --sizes overrides.
 */
export const SYNC_VM_DEFAULT_SIZES = [1_000];
export const SYNC_DEFAULT_TIMEOUT_S = 240;
/** The guest's per-mode limit: everything there is emulated. */
export const SYNC_VM_DEFAULT_TIMEOUT_S = 1_200;

export const SYNC_BENCH_USAGE = `usage: ebpf-kube-proxy bench sync [options]

Every mode programs N services × 10 endpoints from cold, then applies one
endpoint change at that size; each measurement in a fresh network namespace,
modes interleaved (the order reverses from one size to the next).

  --modes LIST     comma-separated, from ${SYNC_MODES.join(',')} (default: every mode
                   this kernel has; ipvs needs IP_VS, which only the --vm kernel has here)
  --sizes LIST     services per measurement (default ${SYNC_DEFAULT_SIZES.join(',')}; under --vm ${SYNC_VM_DEFAULT_SIZES.join(',')})
  --timeout S      give up on one mode at one size after S seconds
                   (default ${SYNC_DEFAULT_TIMEOUT_S}; under --vm ${SYNC_VM_DEFAULT_TIMEOUT_S})
  --vm             run every mode, ipvs included, inside the qemu VM on Debian's kernel;
                   emulated (TCG), so times are far above the host's: compare modes
                   with each other, not with a host run
  --warmup         run every mode once at ${WARMUP_SERVICES} services first, unreported: a fresh
                   kernel loads each mode's modules on first use (default under --vm;
                   --no-warmup turns it off)
  --json           print {"results": [...], "notes": [...]} instead of the table
`;

/** modesGiven: without --modes the caller leaves out the modes this kernel lacks, with a note. */
export function parseSyncBenchArgs(args: readonly string[]): SyncBenchOptions & { modesGiven: boolean } {
  const o: SyncBenchOptions = { modes: [...SYNC_MODES], sizes: [...SYNC_DEFAULT_SIZES], timeoutS: SYNC_DEFAULT_TIMEOUT_S, json: false, vm: false, warmup: false };
  let modesGiven = false;
  let sizesGiven = false;
  let timeoutGiven = false;
  let warmupGiven = false;
  readFlags(args, (flag, value) => {
    switch (flag) {
      case '--modes': o.modes = modeList(flag, value(), SYNC_MODES); modesGiven = true; break;
      case '--sizes': o.sizes = intList(flag, value(), 1, 100_000); sizesGiven = true; break;
      case '--timeout': o.timeoutS = int(flag, value(), 1, 24 * 3600); timeoutGiven = true; break;
      case '--vm': o.vm = true; break;
      case '--warmup': o.warmup = true; warmupGiven = true; break;
      case '--no-warmup': o.warmup = false; warmupGiven = true; break;
      case '--json': o.json = true; break;
      default: return false;
    }
    return true;
  });
  if (o.vm && !sizesGiven) o.sizes = [...SYNC_VM_DEFAULT_SIZES];
  if (o.vm && !timeoutGiven) o.timeoutS = SYNC_VM_DEFAULT_TIMEOUT_S;
  if (o.vm && !warmupGiven) o.warmup = true;
  return { ...o, modesGiven };
}

/** The guest's flags: everything explicit, so its defaults cannot differ from ours. */
export function syncGuestArgs(o: SyncBenchOptions): string[] {
  return ['--modes', o.modes.join(','), '--sizes', o.sizes.join(','), '--timeout', String(o.timeoutS), o.warmup ? '--warmup' : '--no-warmup'];
}

/** An upper bound for the whole guest run: boot and warm-up, then every measurement at its timeout. */
export function syncVmTimeoutMs(o: SyncBenchOptions): number {
  return (300 + (o.sizes.length + (o.warmup ? 1 : 0)) * o.modes.length * (o.timeoutS + 30)) * 1000;
}

/** Modes in run order for the i-th size: reversed every other size, so no mode always runs on a warmer machine. */
export function runOrder<T>(modes: readonly T[], sizeIndex: number): T[] {
  return sizeIndex % 2 === 0 ? [...modes] : [...modes].reverse();
}
