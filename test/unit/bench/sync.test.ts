// Pure parts of `bench sync`: flags, the guest's flags and time budget under --vm, the run
// order, the job script and the table.
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../../src/bench/args.js';
import {
  parseSyncBenchArgs, runOrder, SYNC_DEFAULT_SIZES, SYNC_DEFAULT_TIMEOUT_S, SYNC_MODES, SYNC_VM_DEFAULT_SIZES, SYNC_VM_DEFAULT_TIMEOUT_S,
  syncGuestArgs, syncVmTimeoutMs,
} from '../../../src/bench/sync-options.js';
import { syncTable, type SyncBenchReport } from '../../../src/bench/sync-report.js';
import { syncJobScript } from '../../../src/bench/sync-vm.js';
import { failure } from '../../../src/bench/sync.js';
import { commandTimeoutMs } from '../../../src/dataplane/run.js';

describe('bench sync flags', () => {
  it('defaults to every mode at 1,000 and 10,000 services on the host', () => {
    const o = parseSyncBenchArgs([]);
    expect(o).toEqual({ modes: [...SYNC_MODES], sizes: SYNC_DEFAULT_SIZES, timeoutS: SYNC_DEFAULT_TIMEOUT_S, json: false, vm: false, warmup: false, modesGiven: false });
    expect(o.modes).toContain('ipvs');
  });

  it('takes the VM\'s sizes and timeout under --vm unless told otherwise', () => {
    expect(parseSyncBenchArgs(['--vm'])).toMatchObject({ vm: true, sizes: SYNC_VM_DEFAULT_SIZES, timeoutS: SYNC_VM_DEFAULT_TIMEOUT_S, warmup: true, modesGiven: false });
    expect(parseSyncBenchArgs(['--vm', '--sizes', '10_000', '--timeout=60', '--no-warmup'])).toMatchObject({ sizes: [10_000], timeoutS: 60, warmup: false });
  });

  it('reads every flag, in both spellings', () => {
    expect(parseSyncBenchArgs(['--modes=ipvs,ebpf', '--sizes', '10,1_000', '--timeout', '30', '--json', '--warmup'])).toEqual({
      modes: ['ipvs', 'ebpf'], sizes: [10, 1000], timeoutS: 30, json: true, vm: false, warmup: true, modesGiven: true,
    });
  });

  it('refuses what it cannot run', () => {
    for (const bad of [['--modes', 'kernelspace'], ['--modes', 'ebpf,ebpf'], ['--sizes', '0'], ['--sizes', '1,x'], ['--timeout', '-1'], ['--sizes'], ['--rounds', '3']]) {
      expect(() => parseSyncBenchArgs(bad), bad.join(' ')).toThrow(UsageError);
    }
  });

  it('hands the guest every option explicitly, and gives it time for the worst case', () => {
    const o = parseSyncBenchArgs(['--vm', '--modes', 'ipvs,iptables', '--sizes', '10']);
    expect(parseSyncBenchArgs(syncGuestArgs(o))).toEqual({ ...o, vm: false, modesGiven: true });
    // Two modes, at one size and the warm-up, may each take the whole timeout.
    expect(syncVmTimeoutMs({ ...o, timeoutS: 100 }) - syncVmTimeoutMs({ ...o, timeoutS: 50 })).toBe(2 * 2 * 50 * 1000);
    const script = syncJobScript('/work/it\'s', '/usr/bin/node', o);
    expect(script).toContain('export EKP_COMMAND_TIMEOUT_S=1200\n');
    expect(script).toContain(`exec /bin/sh '/work/it'\\''s/scripts/vm/bench-guest.sh' '/work/it'\\''s' '/usr/bin/node' 'sync' '--modes' 'ipvs,iptables' '--sizes' '10' '--timeout' '1200' '--warmup'`);
  });

  it('reverses the mode order from one size to the next', () => {
    expect(runOrder(['a', 'b', 'c'], 0)).toEqual(['a', 'b', 'c']);
    expect(runOrder(['a', 'b', 'c'], 1)).toEqual(['c', 'b', 'a']);
    expect(runOrder(['a', 'b', 'c'], 2)).toEqual(['a', 'b', 'c']);
  });
});

describe('bench sync output', () => {
  const report: SyncBenchReport = {
    results: [
      { mode: 'ebpf', services: 1000, cold_ms: 52.1, update_ms: 0.4 },
      { mode: 'ipvs', services: 1000, cold_ms: NaN, update_ms: NaN, error: 'over 240 s' },
    ],
    notes: ['ipvs not measured: this kernel has no IP_VS'],
  };

  it('one row per mode, errors in place of numbers (whole below), sizes not run said so, then the notes', () => {
    const t = syncTable(report, ['ebpf', 'ipvs'], [1000, 10_000]).split('\n');
    expect(t[2]).toMatch(/^mode\s+1,000 cold\s+update\s+10,000 cold\s+update$/);
    expect(t[3]).toMatch(/^ebpf\s+52\.1\s+0\.4\s+not run$/);
    expect(t[4]).toMatch(/^ipvs\s+over 240 s\s+not run$/);
    expect(t.slice(5)).toEqual(['', 'ipvs at 1,000: over 240 s', '', 'note: ipvs not measured: this kernel has no IP_VS', '']);
  });

  it('a failed worker is reported by its error message, not by the last frame of its stack', () => {
    const stderr = 'file:///x.js:1\nCommandError: ipvsadm-restore: exit 1: Memory allocation problem\n    at mustRun (file:///exec.js:17:9)\n    at async IpvsDataplane.apply (file:///index.js:200:5)\n';
    expect(failure(stderr, 1)).toBe('CommandError: ipvsadm-restore: exit 1: Memory allocation problem');
    expect(failure('ebpf-kube-proxy: CommandError: ip -batch -: exit 1\n    at x (y.js:1:1)\n', 1)).toBe('CommandError: ip -batch -: exit 1');
    expect(failure('something odd\n    at f (x.js:1:1)\n', 1)).toBe('something odd');
    expect(failure('', 3)).toBe('exit 3');
  });

  it('tools get 60 s unless EKP_COMMAND_TIMEOUT_S says otherwise (the VM guest)', () => {
    expect(commandTimeoutMs({})).toBe(60_000);
    expect(commandTimeoutMs({ EKP_COMMAND_TIMEOUT_S: '1200' })).toBe(1_200_000);
    expect(commandTimeoutMs({ EKP_COMMAND_TIMEOUT_S: 'x' })).toBe(60_000);
  });
});
