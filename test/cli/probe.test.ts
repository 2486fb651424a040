import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect } from 'vitest';
import { packageRoot } from '../../src/native/index.js';
import { kernelIt } from '../support/capability.js';

const it = kernelIt();
const BIN = join(packageRoot(), 'bin', 'ebpf-kube-proxy.js');

function cli(...args: string[]) {
  return spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8' });
}

describe('ebpf-kube-proxy probe', () => {
  it('--json has the chosen mode and every feature, probed on this kernel', () => {
    const r = cli('probe', '--json');
    expect(r.status).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.mode).toBe('ebpf');
    for (const f of ['bpf_syscall', 'xdp', 'tc', 'cgroup_sock_addr', 'lru_hash_map', 'lpm_trie_map', 'btf', 'bpffs', 'nftables', 'iptables_legacy', 'iptables_nft', 'ip_vs']) {
      expect(report.features[f], f).toMatchObject({ available: expect.any(Boolean), detail: expect.any(String) });
    }
    expect(report.features.tc.available).toBe(true);
    expect(report.reasons.ebpf).toBeNull();
  });

  it('the table names the choice and a reason for each unusable mode', () => {
    const r = cli('probe');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/auto would choose: ebpf/);
    expect(r.stdout).toMatch(/^ {2}tc +yes/m);
  });

  it('unknown arguments and commands exit 2 with a message', () => {
    expect(cli('probe', '--bogus')).toMatchObject({ status: 2, stderr: expect.stringMatching(/unknown argument --bogus/) });
    expect(cli('frobnicate')).toMatchObject({ status: 2, stderr: expect.stringMatching(/unknown command "frobnicate"/) });
  });
});
