import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

let root: string | undefined;

/** The directory holding package.json, whether we run from src/ (tests) or dist/. */
export function packageRoot(): string {
  if (root) return root;
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) || !existsSync(join(dir, 'binding.gyp'))) {
    const up = resolve(dir, '..');
    if (up === dir) throw new Error('cannot find the ebpf-kube-proxy package root');
    dir = up;
  }
  root = dir;
  return dir;
}

/** Path of a compiled BPF object, by its source name without `.bpf.c`. */
export function bpfObjectPath(name: string): string {
  if (!/^[a-z0-9_]+$/.test(name)) throw new TypeError(`bad BPF object name ${JSON.stringify(name)}`);
  return join(packageRoot(), 'build', 'Release', 'bpf', `${name}.bpf.o`);
}
