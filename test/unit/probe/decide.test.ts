import { describe, expect, it } from 'vitest';
import { checkMode, decideMode, type FeatureName, type Features } from '../../../src/probe/index.js';

const ALL: FeatureName[] = [
  'bpf_syscall', 'xdp', 'tc', 'tc_helpers', 'cgroup_sock_addr', 'lru_hash_map', 'lpm_trie_map', 'btf', 'bpffs', 'cgroup2',
  'nftables', 'iptables_legacy', 'iptables_nft', 'ip_vs', 'ipset', 'ipvsadm',
];

function features(without: FeatureName[]): Features {
  return Object.fromEntries(
    ALL.map((f) => [f, without.includes(f) ? { available: false, detail: `${f} missing` } : { available: true, detail: 'ok' }]),
  ) as Features;
}

describe('auto mode: ebpf, else ipvs, else nftables, else iptables, else userspace', () => {
  it.each([
    { name: 'everything present', without: [], mode: 'ebpf' },
    { name: 'no XDP, no cgroup hooks: tc alone serves', without: ['xdp', 'cgroup_sock_addr'], mode: 'ebpf' },
    { name: 'no kernel BTF (tc_lb has a CO-RE relocation)', without: ['btf'], mode: 'ipvs' },
    { name: 'bpf() refused', without: ['bpf_syscall', 'tc', 'lru_hash_map', 'lpm_trie_map'], mode: 'ipvs' },
    { name: 'no LRU maps', without: ['lru_hash_map'], mode: 'ipvs' },
    { name: 'a kernel without a helper the tc programs call (for_each_map_elem: < 5.13)', without: ['tc_helpers'], mode: 'ipvs' },
    { name: 'no bpffs', without: ['bpffs'], mode: 'ipvs' },
    { name: 'no BPF and no ip_vs', without: ['bpf_syscall', 'ip_vs'], mode: 'nftables' },
    { name: 'ip_vs without ipset', without: ['tc', 'ipset'], mode: 'nftables' },
    { name: 'ip_vs without the ipvsadm binary (a bare host)', without: ['tc', 'ipvsadm'], mode: 'nftables' },
    { name: 'only legacy iptables', without: ['tc', 'ip_vs', 'nftables', 'iptables_nft'], mode: 'iptables' },
    { name: 'only iptables-nft', without: ['tc', 'ip_vs', 'nftables', 'iptables_legacy'], mode: 'iptables' },
    { name: 'nothing at all', without: ALL, mode: 'userspace' },
  ] as { name: string; without: FeatureName[]; mode: string }[])('$name → $mode', ({ without, mode }) => {
    expect(decideMode(features(without)).mode).toBe(mode);
  });

  it('gives a reason for every mode it did not pick', () => {
    const d = decideMode(features(['bpf_syscall', 'ip_vs']));
    expect(d.reasons.ebpf).toBe('bpf_syscall: bpf_syscall missing');
    expect(d.reasons.ipvs).toBe('ip_vs: ip_vs missing');
    expect(d.reasons.nftables).toBeNull();
    expect(d.reasons.userspace).toBeNull();
  });

  it('names every alternative when none of them is there', () => {
    expect(checkMode(features(['iptables_legacy', 'iptables_nft']), 'iptables')).toBe(
      'iptables_nft: iptables_nft missing; iptables_legacy: iptables_legacy missing',
    );
  });
});
