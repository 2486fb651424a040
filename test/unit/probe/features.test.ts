import { describe, expect, it } from 'vitest';
import type { KernelProbe } from '../../../src/native/index.js';
import { checkMode, decideMode, probeFeatures, requiredFeatures, type ProbeEnv } from '../../../src/probe/index.js';

const ok = { supported: true, errno: 0 };

function kernel(over: Partial<KernelProbe> = {}): KernelProbe {
  return {
    bpfSyscall: ok,
    progTypes: { xdp: ok, tc: ok, cgroupSockAddr: ok },
    mapTypes: { hash: ok, array: ok, percpuArray: ok, lruHash: ok, lpmTrie: ok },
    helpers: { redirectNeigh: ok, redirectPeer: ok, fibLookup: ok, forEachMapElem: ok },
    kernelBtf: ok,
    ...over,
  };
}

interface FakeMachine {
  kernel?: () => KernelProbe;
  commands?: Record<string, { status: number | null; stdout?: string; stderr?: string }>;
  files?: Record<string, string>;
}

function fakeEnv(m: FakeMachine): ProbeEnv & { ran: string[][] } {
  const ran: string[][] = [];
  return {
    ran,
    path: '/usr/local/bin:/usr/sbin:/usr/bin',
    kernel: m.kernel ?? (() => kernel()),
    run(argv) {
      ran.push(argv);
      const key = argv.filter((a) => a !== 'unshare' && a !== '--net' && a !== '--').join(' ');
      const hit = Object.entries(m.commands ?? {}).find(([prefix]) => key.startsWith(prefix));
      const r = hit?.[1] ?? { status: null };
      return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
    },
    readFile: (p) => m.files?.[p] ?? null,
    exists: (p) => p in (m.files ?? {}),
  };
}

const MOUNTS = 'bpf /sys/fs/bpf bpf rw 0 0\ncgroup2 /sys/fs/cgroup cgroup2 rw 0 0\n';

/** A machine with every tool, ip_vs loaded, bpffs and cgroup2 mounted. */
const FULL: FakeMachine = {
  files: { '/proc/mounts': MOUNTS, '/proc/net/ip_vs': '', '/usr/sbin/ipvsadm': '' },
  commands: {
    'nft': { status: 0, stdout: 'nftables v1.0.6' },
    'iptables-legacy': { status: 0, stdout: 'iptables v1.8.9 (legacy)' },
    'iptables-nft': { status: 0, stdout: 'iptables v1.8.9 (nf_tables)' },
    'ipset': { status: 0, stdout: 'ipset v7.17' },
  },
};

describe('probeFeatures with an injected machine', () => {
  it('an explicit mode probes only what it needs: ipvs runs no BPF probe and no nft, nftables no iptables or ipvs', () => {
    let kernelProbes = 0;
    const env = fakeEnv({ ...FULL, kernel: () => { kernelProbes++; return kernel(); } });
    const ipvs = probeFeatures(env, requiredFeatures('ipvs'));
    expect(kernelProbes).toBe(0);
    expect(env.ran.map((a) => a.find((x) => !['unshare', '--net', '--'].includes(x)))).not.toContain('nft');
    expect(checkMode(ipvs, 'ipvs')).toBeNull();
    expect(ipvs.nftables).toEqual({ available: false, detail: 'not probed' });
    env.ran.length = 0;
    const nft = probeFeatures(env, requiredFeatures('nftables'));
    expect(checkMode(nft, 'nftables')).toBeNull();
    expect(kernelProbes).toBe(0);
    expect(new Set(env.ran.map((a) => a.find((x) => !['unshare', '--net', '--'].includes(x))))).toEqual(new Set(['nft']));
    // ebpf: the kernel is probed once for all its BPF features.
    const ebpf = probeFeatures(env, requiredFeatures('ebpf'));
    expect(checkMode(ebpf, 'ebpf')).toBeNull();
    expect(kernelProbes).toBe(1);
  });

  it('a full machine: every feature yes, auto = ebpf', () => {
    const env = fakeEnv(FULL);
    const f = probeFeatures(env);
    expect(Object.entries(f).filter(([, v]) => !v.available)).toEqual([]);
    expect(f.bpffs.detail).toBe('bpffs mounted at /sys/fs/bpf');
    expect(decideMode(f).mode).toBe('ebpf');
  });

  it('a kernel older than 5.13 (no bpf_for_each_map_elem for the conntrack collector): auto does not pick ebpf', () => {
    const env = fakeEnv({
      kernel: () => kernel({ helpers: { redirectNeigh: ok, redirectPeer: ok, fibLookup: ok, forEachMapElem: { supported: false, errno: 22 } } }),
      files: { '/proc/mounts': MOUNTS },
      commands: { nft: { status: 0, stdout: 'nftables v1.0.6' } },
    });
    const f = probeFeatures(env);
    expect(f.tc_helpers.available).toBe(false);
    const d = decideMode(f);
    expect(d.mode).not.toBe('ebpf');
    expect(d.reasons.ebpf).toMatch(/tc_helpers: .*for_each_map_elem/);
  });

  it('ipvsadm is looked for, never run (it loads ip_vs before it reads its arguments)', () => {
    const env = fakeEnv({ files: { '/proc/mounts': MOUNTS } });
    expect(probeFeatures(env).ipvsadm).toEqual({ available: false, detail: 'ipvsadm not on PATH' });
    expect(env.ran.some((a) => a.includes('ipvsadm'))).toBe(false);
  });

  it('netfilter checks run in a scratch network namespace, never the host\'s', () => {
    const env = fakeEnv({ commands: { nft: { status: 0 } } });
    probeFeatures(env);
    const mutating = env.ran.filter((a) => a.includes('add') || a.includes('-L') || a.includes('list'));
    expect(mutating.length).toBeGreaterThan(0);
    for (const argv of mutating) expect(argv.slice(0, 3)).toEqual(['unshare', '--net', '--']);
  });

  it('EPERM from bpf() explains itself and auto falls back', () => {
    const eperm = { supported: false, errno: 1 };
    const env = fakeEnv({
      kernel: () => kernel({ bpfSyscall: eperm, progTypes: { xdp: eperm, tc: eperm, cgroupSockAddr: eperm } }),
      files: { '/proc/mounts': MOUNTS },
      commands: { nft: { status: 0, stdout: 'nftables v1.0.6' } },
    });
    const f = probeFeatures(env);
    expect(f.bpf_syscall).toEqual({ available: false, detail: 'bpf() syscall: EPERM: not permitted (needs root or CAP_BPF + CAP_NET_ADMIN)' });
    const d = decideMode(f);
    expect(d.mode).toBe('nftables');
    expect(d.reasons.ebpf).toMatch(/EPERM/);
    expect(d.reasons.ipvs).toMatch(/no ip_vs/);
  });

  it('a missing native addon is a reason, not a crash', () => {
    const env = fakeEnv({ kernel: () => { throw new Error('native addon not built'); }, files: { '/proc/mounts': MOUNTS } });
    const f = probeFeatures(env);
    expect(f.tc).toEqual({ available: false, detail: 'tc (sched_cls) programs: cannot probe (native addon not built)' });
    expect(decideMode(f).mode).toBe('userspace');
  });

  it('bpffs: supported but unmounted is usable; absent from the kernel is not', () => {
    const unmounted = probeFeatures(fakeEnv({ files: { '/proc/filesystems': 'nodev\tbpf\n' } }));
    expect(unmounted.bpffs.available).toBe(true);
    const absent = probeFeatures(fakeEnv({ files: { '/proc/filesystems': 'nodev\tproc\n' } }));
    expect(absent.bpffs).toEqual({ available: false, detail: 'kernel has no bpf filesystem' });
  });

  it('ip_vs: loaded, built in, loadable, or absent', () => {
    const release = { '/proc/sys/kernel/osrelease': '6.1.0-9-amd64\n' };
    expect(probeFeatures(fakeEnv({ files: { '/proc/net/ip_vs': '' } })).ip_vs.detail).toMatch(/loaded/);
    expect(probeFeatures(fakeEnv({ files: { ...release, '/lib/modules/6.1.0-9-amd64/modules.builtin': 'kernel/net/netfilter/ipvs/ip_vs.ko\n' } })).ip_vs.detail).toMatch(/built into/);
    expect(probeFeatures(fakeEnv({ files: release, commands: { 'modprobe -n ip_vs': { status: 0 } } })).ip_vs.detail).toMatch(/module available/);
    expect(probeFeatures(fakeEnv({ files: release })).ip_vs).toEqual({ available: false, detail: 'kernel 6.1.0-9-amd64 has no ip_vs (not loaded, not built in, no module)' });
  });

  it('a netfilter tool that is installed but refused by the kernel says so', () => {
    const f = probeFeatures(fakeEnv({ commands: { 'nft --version': { status: 0, stdout: 'nftables v1.0.6' }, 'nft -c': { status: 1, stderr: 'Error: Could not process rule: Operation not supported' } } }));
    expect(f.nftables).toEqual({ available: false, detail: 'nftables unusable: Error: Could not process rule: Operation not supported' });
    expect(probeFeatures(fakeEnv({})).nftables).toEqual({ available: false, detail: 'nft not installed' });
  });
});
