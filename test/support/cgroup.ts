// A cgroup v2 of the test's own under the machine's cgroup2 mount: programs are
// attached there, never to the root cgroup.
import { mkdirSync, rmdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';

import { cgroup2Root } from '../../src/dataplane/ebpf/cgroup.js';

let counter = 0;

export interface TestCgroup {
  path: string;
  dispose(): void;
}

export function createTestCgroup(label: string): TestCgroup {
  const path = join(cgroup2Root(), `ekpt-${label}-${process.pid}-${counter++}`);
  mkdirSync(path);
  return {
    path,
    dispose() {
      // Only empty cgroups can go; test processes have exited by now.
      if (existsSync(path)) rmdirSync(path);
    },
  };
}
