import { existsSync, mkdirSync, statfsSync } from 'node:fs';
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

const BPFFS_ROOT = '/sys/fs/bpf';

/** The deepest existing directory on the way to `path`. */
function nearestExisting(path: string): string {
  let p = path;
  while (!existsSync(p)) {
    const up = dirname(p);
    if (up === p) break;
    p = up;
  }
  return p;
}

/**
 * Makes `pinDir` usable for pins: it must lie on a bpf filesystem. Under the
 * conventional /sys/fs/bpf with nothing mounted there we mount bpffs, as
 * Cilium and Calico do; anywhere else a missing bpffs is the caller's
 * mistake and the error says how to fix it.
 */
export function preparePinDir(pinDir: string): void {
  if ((pinDir === BPFFS_ROOT || pinDir.startsWith(`${BPFFS_ROOT}/`)) && !isBpffs(BPFFS_ROOT)) {
    mkdirSync(BPFFS_ROOT, { recursive: true });
    const r = spawnSync('mount', ['-t', 'bpf', 'bpf', BPFFS_ROOT], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`cannot mount bpffs at ${BPFFS_ROOT}: ${(r.stderr || r.error?.message || '').trim()}`);
  }
  const base = nearestExisting(pinDir);
  if (!isBpffs(base)) throw new Error(`pin directory ${pinDir}: ${base} is not a bpf filesystem (mount -t bpf bpf ${base})`);
  mkdirSync(pinDir, { recursive: true });
}
