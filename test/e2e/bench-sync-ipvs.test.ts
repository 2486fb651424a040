// The guest's side of `bench sync --vm`, with ipvs at the smallest size: what bench-guest.sh runs
// inside the VM, with the flags the host hands it (syncGuestArgs), must produce a number for
// ipvs. test/vm/ipvs.test.ts runs this file in the VM it boots anyway, after the ipvs scenario
// file: a VM of its own for this would add a boot and the warm-up, over a minute under emulation.
// The host's side (flags, job script, time budget) is in test/unit/bench/sync.test.ts.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseSyncBenchArgs, syncGuestArgs } from '../../src/bench/sync-options.js';
import type { SyncBenchReport } from '../../src/bench/sync-report.js';

const ROOT = new URL('../..', import.meta.url).pathname;
const inVm = process.env.EKP_IN_VM === '1';

describe.runIf(inVm)('bench sync in the VM (the guest side of --vm)', () => {
  it('measures ipvs at 10 services', () => {
    const args = syncGuestArgs(parseSyncBenchArgs(['--vm', '--modes', 'ipvs', '--sizes', '10', '--no-warmup', '--timeout', '120']));
    const r = spawnSync(process.execPath, [join(ROOT, 'bin/ebpf-kube-proxy.js'), 'bench', 'sync', ...args, '--json'], { encoding: 'utf8', timeout: 150_000 });
    expect(r.status, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout.trim().split('\n').pop()!) as SyncBenchReport;
    const ipvs = report.results.find((x) => x.mode === 'ipvs' && x.services === 10);
    expect(ipvs?.error, JSON.stringify(report)).toBeUndefined();
    expect(ipvs!.cold_ms).toBeGreaterThan(0);
    expect(ipvs!.update_ms).toBeGreaterThan(0);
    expect(report.notes.join('\n')).toContain('inside the qemu VM');
  }, 160_000);
});
