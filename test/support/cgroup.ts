// A cgroup v2 of the test's own under the machine's cgroup2 mount: programs are
// attached there, never to the root cgroup.
import { mkdirSync, readFileSync, rmdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';

export function cgroup2Mount(): string {
  for (const line of readFileSync('/proc/mounts', 'utf8').split('\n')) {
    const [, where, type] = line.split(' ');
    if (type === 'cgroup2' && where) return where;
  }
  throw new Error('no cgroup2 mount on this machine');
}

let counter = 0;

export interface TestCgroup {
  path: string;
  dispose(): void;
}

export function createTestCgroup(label: string): TestCgroup {
  const path = join(cgroup2Mount(), `ekpt-${label}-${process.pid}-${counter++}`);
  mkdirSync(path);
  return {
    path,
    dispose() {
      // Only empty cgroups can go; test processes have exited by now.
      if (existsSync(path)) rmdirSync(path);
    },
  };
}
