import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { probeKernel, type KernelProbe } from '../native/index.js';
import type { Feature, FeatureName, Features } from './types.js';

/** Everything the probe reads from the machine, injectable for tests. */
export interface ProbeEnv {
  kernel(): KernelProbe;
  /** Runs a command (argv, never a shell); status null when it could not start. */
  run(argv: string[]): { status: number | null; stdout: string; stderr: string };
  readFile(path: string): string | null;
  exists(path: string): boolean;
  /** $PATH, where binaries are looked for. */
  path?: string;
}

export const realProbeEnv: ProbeEnv = {
  // The addon loads on first use, so a missing build becomes a reported reason, not a crash.
  // EKP_PROBE_DISABLE_BPF makes the BPF probe fail, to show (and test) auto's
  // fallback on a machine whose kernel does run BPF.
  kernel: () => {
    if (process.env.EKP_PROBE_DISABLE_BPF) throw new Error('BPF disabled by EKP_PROBE_DISABLE_BPF');
    return probeKernel();
  },
  run(argv) {
    const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: 10_000 });
    return { status: r.error ? null : r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? (r.error?.message ?? '') };
  },
  readFile(path) {
    try {
      return readFileSync(path, 'utf8');
    } catch {
      return null;
    }
  },
  exists: existsSync,
  path: process.env.PATH,
};

const yes = (detail: string): Feature => ({ available: true, detail });
const no = (detail: string): Feature => ({ available: false, detail });

function errnoText(errno: number): string {
  switch (errno) {
    case 1: return 'EPERM: not permitted (needs root or CAP_BPF + CAP_NET_ADMIN)';
    case 38: return 'ENOSYS: kernel built without CONFIG_BPF_SYSCALL';
    case 0: return 'rejected by this kernel';
    default: return `errno ${errno}`;
  }
}

function fromProbe(a: { supported: boolean; errno: number }, what: string): Feature {
  return a.supported ? yes(`${what} supported`) : no(`${what}: ${errnoText(a.errno)}`);
}

function firstLine(s: string): string {
  return s.trim().split('\n')[0] ?? '';
}

/** A mount of the given type, from /proc/mounts. */
function mountOf(env: ProbeEnv, type: string): string | null {
  const mounts = env.readFile('/proc/mounts') ?? '';
  for (const line of mounts.split('\n')) {
    const [, where, fstype] = line.split(' ');
    if (fstype === type && where) return where;
  }
  return null;
}

/**
 * Commands that could create state (a netfilter table, a loaded module's
 * tables) run in a throwaway network namespace, so the probe never changes
 * the host's rules.
 */
function inScratchNetns(env: ProbeEnv, argv: string[]): { status: number | null; stdout: string; stderr: string } {
  return env.run(['unshare', '--net', '--', ...argv]);
}

function commandFeature(env: ProbeEnv, argv: string[], what: string): Feature {
  const version = env.run([argv[0]!, '--version']);
  if (version.status === null) return no(`${argv[0]} not installed`);
  const r = inScratchNetns(env, argv);
  if (r.status === 0) return yes(`${what} (${firstLine(version.stdout || version.stderr)})`);
  return no(`${what} unusable: ${firstLine(r.stderr) || `exit ${r.status}`}`);
}

/**
 * On $PATH, where the dataplane's spawn looks, without running it: ipvsadm loads ip_vs before
 * it reads its arguments. (execvp's default when PATH is unset.)
 */
function installed(env: ProbeEnv, bin: string): Feature {
  const dirs = (env.path ?? '/bin:/usr/bin').split(':').filter(Boolean);
  const at = dirs.map((d) => `${d}/${bin}`).find((p) => env.exists(p));
  return at ? yes(`${bin} at ${at}`) : no(`${bin} not on PATH`);
}

function ipvsFeature(env: ProbeEnv): Feature {
  if (env.exists('/proc/net/ip_vs')) return yes('ip_vs loaded (/proc/net/ip_vs)');
  const release = firstLine(env.readFile('/proc/sys/kernel/osrelease') ?? '');
  const builtin = env.readFile(`/lib/modules/${release}/modules.builtin`) ?? '';
  if (/\/ip_vs\.ko/.test(builtin)) return yes('ip_vs built into the kernel');
  const r = env.run(['modprobe', '-n', 'ip_vs']);
  if (r.status === 0) return yes('ip_vs module available (modprobe ip_vs)');
  return no(`kernel ${release} has no ip_vs (not loaded, not built in, no module)`);
}

/**
 * What the machine offers. `only`: probe just these (an explicit mode needs its own
 * features, not the BPF program loads and scratch-netns commands of every other mode);
 * the rest are reported as not probed. Each probe runs tools or loads programs: at a
 * daemon's start under emulation (the ipvs VM test) all of them took seconds.
 */
export function probeFeatures(env: ProbeEnv, only?: ReadonlySet<FeatureName>): Features {
  let kernel: KernelProbe | null | undefined;
  let kernelError = '';
  const kernelProbe = (): KernelProbe | null => {
    if (kernel !== undefined) return kernel;
    try {
      kernel = env.kernel();
    } catch (e) {
      kernel = null;
      kernelError = (e as Error).message;
    }
    return kernel;
  };
  const bpf = (pick: (k: KernelProbe) => { supported: boolean; errno: number }, what: string) => (): Feature => {
    const k = kernelProbe();
    return k ? fromProbe(pick(k), what) : no(`${what}: cannot probe (${kernelError})`);
  };
  const fsTypes = () => env.readFile('/proc/filesystems') ?? '';

  const probes: Record<FeatureName, () => Feature> = {
    bpf_syscall: bpf((k) => k.bpfSyscall, 'bpf() syscall'),
    xdp: bpf((k) => k.progTypes.xdp, 'XDP programs'),
    tc: bpf((k) => k.progTypes.tc, 'tc (sched_cls) programs'),
    // The datapath's tc programs call these; the conntrack collector needs for_each_map_elem (5.13).
    tc_helpers: bpf((k) => {
      const h = { bpf_redirect_neigh: k.helpers.redirectNeigh, bpf_fib_lookup: k.helpers.fibLookup, bpf_for_each_map_elem: k.helpers.forEachMapElem };
      const lacking = Object.entries(h).find(([, a]) => !a.supported);
      return lacking ? lacking[1] : { supported: true, errno: 0 };
    }, 'tc helpers (bpf_redirect_neigh, bpf_fib_lookup, bpf_for_each_map_elem)'),
    cgroup_sock_addr: bpf((k) => k.progTypes.cgroupSockAddr, 'cgroup sock_addr hooks (connect/sendmsg/recvmsg)'),
    lru_hash_map: bpf((k) => k.mapTypes.lruHash, 'LRU hash maps'),
    lpm_trie_map: bpf((k) => k.mapTypes.lpmTrie, 'LPM trie maps'),
    btf: bpf((k) => k.kernelBtf, 'kernel BTF (/sys/kernel/btf/vmlinux)'),
    bpffs: () => {
      const at = mountOf(env, 'bpf');
      if (at) return yes(`bpffs mounted at ${at}`);
      return /\sbpf$/m.test(fsTypes()) ? yes('bpffs supported, not mounted (run mounts it at /sys/fs/bpf)') : no('kernel has no bpf filesystem');
    },
    cgroup2: () => {
      const at = mountOf(env, 'cgroup2');
      return at ? yes(`cgroup2 mounted at ${at}`) : no('no cgroup2 mount (socket-level LB needs one)');
    },
    nftables: () => commandFeature(env, ['nft', '-c', 'add', 'table', 'inet', 'ekp_probe'], 'nftables'),
    iptables_legacy: () => commandFeature(env, ['iptables-legacy', '-t', 'nat', '-n', '-L'], 'iptables (legacy)'),
    iptables_nft: () => commandFeature(env, ['iptables-nft', '-t', 'nat', '-n', '-L'], 'iptables (nf_tables backend)'),
    ip_vs: () => ipvsFeature(env),
    ipset: () => commandFeature(env, ['ipset', 'list', '-n'], 'ipset'),
    ipvsadm: () => installed(env, 'ipvsadm'),
  };
  return Object.fromEntries(
    Object.entries(probes).map(([name, probe]) => [name, !only || only.has(name as FeatureName) ? probe() : no('not probed')]),
  ) as Features;
}
