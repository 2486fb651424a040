import { readFileSync, statfsSync } from 'node:fs';
import { attachCgroup, detachCgroupById, queryCgroup, type BpfProgram } from '../../native/index.js';

/** The root of the cgroup v2 mount: the default --cgroup-root, as in Cilium. */
export function cgroup2Root(): string {
  for (const line of readFileSync('/proc/mounts', 'utf8').split('\n')) {
    const [, where, type] = line.split(' ');
    if (type === 'cgroup2' && where) return where;
  }
  throw new Error('no cgroup2 mount: socket-level load balancing needs one (mount -t cgroup2 none /sys/fs/cgroup)');
}

/** statfs(2)'s f_type of a cgroup v2 file system. */
const CGROUP2_SUPER_MAGIC = 0x63677270;

/**
 * Why `path` cannot take the socket programs, or null: it must be a directory of a cgroup v2
 * mount. Checked before anything is loaded or attached, since the kernel's own answer for a
 * v1 or tmpfs directory is an EBADF from bpf_prog_attach with a misleading message.
 */
export function cgroup2DirProblem(path: string): string | null {
  let type: number;
  try {
    type = statfsSync(path).type;
  } catch (e) {
    return `--cgroup-root ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`;
  }
  if (type === CGROUP2_SUPER_MAGIC) return null;
  let root = '';
  try {
    root = `; the cgroup v2 mount here is ${cgroup2Root()}`;
  } catch {
    root = '; this machine has no cgroup v2 mount';
  }
  return `--cgroup-root ${path}: not in a cgroup v2 file system (statfs type 0x${type.toString(16)})${root}`;
}

/**
 * Attaches the socket programs to `cgroupPath`, then detaches the same-named
 * programs a previous instance left there. Both run for an instant; the
 * second sees a backend address, not a frontend, and does nothing.
 */
export function attachSocketPrograms(progs: readonly BpfProgram[], cgroupPath: string): void {
  for (const p of progs) {
    attachCgroup(p, cgroupPath);
    const mine = p.id();
    for (const other of queryCgroup(cgroupPath, p.expectedAttachType)) {
      if (other.id !== mine && other.name === p.name) detachCgroupById(other.id, cgroupPath, p.expectedAttachType);
    }
  }
}

/** Detaches every program of ours (by name) from the cgroup's hooks. */
export function detachSocketPrograms(cgroupPath: string, attachTypes: readonly number[], isOurs: (name: string) => boolean): string[] {
  const removed: string[] = [];
  for (const type of attachTypes) {
    for (const p of queryCgroup(cgroupPath, type)) {
      if (!isOurs(p.name)) continue;
      detachCgroupById(p.id, cgroupPath, type);
      removed.push(`${p.name} on ${cgroupPath}`);
    }
  }
  return removed;
}
