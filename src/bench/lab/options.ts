// Flags of `bench lab`, parsed and checked before anything is built.
import { int, intList, modeList, readFlags, UsageError } from '../args.js';

export const LAB_MODES = ['direct', 'ebpf', 'nftables', 'iptables', 'ipvs', 'userspace'] as const;
export type LabBenchMode = (typeof LAB_MODES)[number];

export interface LabBenchOptions {
  /** `direct` is the no-proxy baseline (ECMP to the pods); the rest are proxy modes. */
  modes: LabBenchMode[];
  /** Services present in each mode's tables (one carries the traffic, the rest are fillers). */
  scales: number[];
  /** Endpoints of every filler service. */
  fillerEndpoints: number;
  /** Seconds of load per measurement. */
  durationS: number;
  /** Interleaved rounds; results are medians over rounds. */
  rounds: number;
  /** wrk connections and threads. */
  connections: number;
  threads: number;
  json: boolean;
  /** Where the markdown, JSON and SVG go. */
  outDir: string;
  /** Run the whole benchmark inside the qemu VM (the only place ipvs exists here). */
  vm: boolean;
  /** How long one mode may take to program one scale before it is reported as too slow. */
  programTimeoutS: number;
  /** The lab's name: labs are replaced by name, so two benchmarks at once need two names. */
  labName: string;
}

/** --vm runs under TCG emulation: the smaller scales unless --scales says otherwise. */
export const VM_DEFAULT_SCALES = [1, 1_000];

export const LAB_BENCH_DEFAULTS: LabBenchOptions = {
  modes: ['direct', 'ebpf', 'nftables', 'iptables', 'userspace'],
  scales: [1, 1_000, 10_000],
  fillerEndpoints: 3,
  durationS: 5,
  rounds: 3,
  connections: 32,
  threads: 2,
  json: false,
  outDir: 'bench-results',
  vm: false,
  programTimeoutS: 300,
  labName: 'bench',
};

export const LAB_BENCH_USAGE = `usage: ebpf-kube-proxy bench lab [options]

Every mode on the same lab (one node per mode, 3 pods each, an external client
running wrk), interleaved: new connections/s, keep-alive requests/s, latency
p50/p99, programming time, and ns per packet of the ebpf programs; the
baseline is direct pod access through an ECMP route (no proxy).

  --modes LIST           comma-separated, from ${LAB_MODES.join(',')}
                         (default ${LAB_BENCH_DEFAULTS.modes.join(',')}; ipvs needs --vm)
  --scales LIST          services per mode (default ${LAB_BENCH_DEFAULTS.scales.join(',')})
  --filler-endpoints N   endpoints of every other service (default ${LAB_BENCH_DEFAULTS.fillerEndpoints})
  --duration S           seconds per measurement (default ${LAB_BENCH_DEFAULTS.durationS})
  --rounds N             interleaved rounds, medians reported (default ${LAB_BENCH_DEFAULTS.rounds})
  --connections N        wrk connections (default ${LAB_BENCH_DEFAULTS.connections})
  --threads N            wrk threads (default ${LAB_BENCH_DEFAULTS.threads})
  --program-timeout S    give up on a mode that programs a scale slower (default ${LAB_BENCH_DEFAULTS.programTimeoutS})
  --lab-name NAME        the lab's name (default ${LAB_BENCH_DEFAULTS.labName}); a lab of that name is replaced
  --out DIR              results directory (default ${LAB_BENCH_DEFAULTS.outDir})
  --vm                   run inside the qemu VM (Debian's kernel, with IP_VS), ipvs included;
                         emulated (TCG), so default scales ${VM_DEFAULT_SCALES.join(',')}; compare ratios, not rates
  --json                 print the JSON result instead of the markdown table
`;

export function parseLabBenchArgs(args: readonly string[]): LabBenchOptions {
  const o: LabBenchOptions = { ...LAB_BENCH_DEFAULTS, modes: [...LAB_BENCH_DEFAULTS.modes], scales: [...LAB_BENCH_DEFAULTS.scales] };
  let modesGiven = false;
  let scalesGiven = false;
  readFlags(args, (flag, value) => {
    switch (flag) {
      case '--modes': o.modes = modeList(flag, value(), LAB_MODES); modesGiven = true; break;
      case '--scales': o.scales = intList(flag, value(), 1, 100_000); scalesGiven = true; break;
      case '--filler-endpoints': o.fillerEndpoints = int(flag, value(), 1, 16); break;
      case '--duration': o.durationS = int(flag, value(), 1, 600); break;
      case '--rounds': o.rounds = int(flag, value(), 1, 50); break;
      case '--connections': o.connections = int(flag, value(), 1, 10_000); break;
      case '--threads': o.threads = int(flag, value(), 1, 64); break;
      case '--program-timeout': o.programTimeoutS = int(flag, value(), 1, 3600); break;
      case '--out': o.outDir = value(); break;
      case '--lab-name': {
        const v = value();
        if (!/^[a-z0-9]{1,12}$/.test(v)) throw new UsageError(`--lab-name: 1-12 characters of [a-z0-9], got ${JSON.stringify(v)}`);
        o.labName = v;
        break;
      }
      case '--vm': o.vm = true; break;
      case '--json': o.json = true; break;
      default: return false;
    }
    return true;
  });
  if (o.vm && !modesGiven) o.modes = ['direct', 'ebpf', 'nftables', 'iptables', 'ipvs', 'userspace'];
  // Under emulation every proxy start takes about a minute and programming 10,000 services many more.
  if (o.vm && !scalesGiven) o.scales = [...VM_DEFAULT_SCALES];
  if (o.connections < o.threads) throw new UsageError(`--connections (${o.connections}) must be at least --threads (${o.threads})`);
  return o;
}
