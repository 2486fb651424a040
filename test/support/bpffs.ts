// A private bpffs per test file: pins never land in the machine's /sys/fs/bpf,
// and unmounting removes them all at once.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, tryRun } from './sys.js';

export interface PrivateBpffs {
  path: string;
  dispose(): void;
}

export function mountPrivateBpffs(): PrivateBpffs {
  const path = mkdtempSync(join(tmpdir(), 'ekpt-bpffs-'));
  run(['mount', '-t', 'bpf', 'bpf', path]);
  return {
    path,
    dispose() {
      tryRun(['umount', path]);
      rmSync(path, { recursive: true, force: true });
    },
  };
}
