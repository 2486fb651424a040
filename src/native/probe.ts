import { constant, native, type ProbeAnswer } from './binding.js';

export interface KernelProbe {
  /** Whether bpf() works at all for us (errno EPERM/ENOSYS otherwise). */
  bpfSyscall: ProbeAnswer;
  progTypes: { xdp: ProbeAnswer; tc: ProbeAnswer; cgroupSockAddr: ProbeAnswer };
  mapTypes: { hash: ProbeAnswer; array: ProbeAnswer; percpuArray: ProbeAnswer; lruHash: ProbeAnswer; lpmTrie: ProbeAnswer };
  helpers: { redirectNeigh: ProbeAnswer; redirectPeer: ProbeAnswer; fibLookup: ProbeAnswer; forEachMapElem: ProbeAnswer };
  kernelBtf: ProbeAnswer;
}

/** Asks the running kernel, through libbpf, what BPF it supports. */
export function probeKernel(): KernelProbe {
  const n = native();
  const prog = (name: string) => n.probeProgType(constant(name));
  const map = (name: string) => n.probeMapType(constant(name));
  const helper = (fn: string) => n.probeHelper(constant('BPF_PROG_TYPE_SCHED_CLS'), constant(fn));
  const array = map('BPF_MAP_TYPE_ARRAY');
  return {
    // Creating the simplest map is the cheapest proof that bpf() is usable.
    bpfSyscall: array,
    progTypes: { xdp: prog('BPF_PROG_TYPE_XDP'), tc: prog('BPF_PROG_TYPE_SCHED_CLS'), cgroupSockAddr: prog('BPF_PROG_TYPE_CGROUP_SOCK_ADDR') },
    mapTypes: {
      hash: map('BPF_MAP_TYPE_HASH'), array, percpuArray: map('BPF_MAP_TYPE_PERCPU_ARRAY'),
      lruHash: map('BPF_MAP_TYPE_LRU_HASH'), lpmTrie: map('BPF_MAP_TYPE_LPM_TRIE'),
    },
    helpers: { redirectNeigh: helper('BPF_FUNC_redirect_neigh'), redirectPeer: helper('BPF_FUNC_redirect_peer'), fibLookup: helper('BPF_FUNC_fib_lookup'), forEachMapElem: helper('BPF_FUNC_for_each_map_elem') },
    kernelBtf: n.probeKernelBtf(),
  };
}
