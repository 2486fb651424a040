// Every bench suite reads its flags before it measures anything: a typo or a
// --help must never start minutes of benchmarking (it once did, for sync and
// controlplane, on a machine that was measuring something else).
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/native/index.js';

const BIN = join(packageRoot(), 'bin', 'ebpf-kube-proxy.js');
const SUITES = ['lab', 'datapath', 'controlplane', 'wire', 'sync'];

describe('bench flags', () => {
  for (const suite of SUITES) {
    it(`bench ${suite}: an unknown flag exits 2 at once, naming it`, () => {
      const r = spawnSync(process.execPath, [BIN, 'bench', suite, '--no-such-flag'], { encoding: 'utf8', timeout: 20_000 });
      expect(r.status, r.stderr).toBe(2);
      expect(r.stderr).toContain('--no-such-flag');
    });
  }

  for (const suite of ['lab', 'controlplane', 'sync']) {
    it(`bench ${suite} --help prints its usage and measures nothing`, () => {
      // A run that started measuring would still be going when spawnSync's timeout kills it.
      const r = spawnSync(process.execPath, [BIN, 'bench', suite, '--help'], { encoding: 'utf8', timeout: 20_000 });
      expect(r.signal).toBeNull();
      expect([0, 2]).toContain(r.status);
      expect(r.stdout + r.stderr).toMatch(/usage: ebpf-kube-proxy bench /);
    });
  }
});
