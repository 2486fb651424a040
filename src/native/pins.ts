import { mkdirSync, statfsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname } from 'node:path';

/** statfs f_type of a bpf filesystem (linux/magic.h BPF_FS_MAGIC). */
const BPF_FS_MAGIC = 0xcafe4a11;

export const DEFAULT_PIN_DIR = '/sys/fs/bpf/ebpf-kube-proxy';

export function isBpffs(path: string): boolean {
  try {
    return statfsSync(path).type === BPF_FS_MAGIC;
  } catch {
    return false;
  }
}

/**
 * Makes `pinDir` usable for pins: its parent must be on a bpf filesystem. When
 * the parent is the conventional /sys/fs/bpf and nothing is mounted there we
 * mount bpffs, as Cilium and Calico do; anywhere else a missing bpffs is the
 * caller's mistake and an error says so.
 */
export function preparePinDir(pinDir: string): void {
  const parent = dirname(pinDir);
  if (!isBpffs(parent)) {
    if (parent !== '/sys/fs/bpf') {
      throw new Error(`pin directory ${pinDir}: ${parent} is not a bpf filesystem (mount -t bpf bpf ${parent})`);
    }
    mkdirSync(parent, { recursive: true });
    const r = spawnSync('mount', ['-t', 'bpf', 'bpf', parent], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`cannot mount bpffs at ${parent}: ${(r.stderr || r.error?.message || '').trim()}`);
  }
  mkdirSync(pinDir, { recursive: true });
}
