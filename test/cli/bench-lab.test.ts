// `bench lab` end to end, small: two scales, every host mode, one short
// round. Checks the benchmark's machinery (lab, programming, wrk through each
// mode, the per-packet statistics, the outputs, the cleanup), not speed: one wrk
// thread and two connections, so that the load takes one core, not both (the
// qemu VM of the ipvs tests runs beside this file).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect } from 'vitest';
import { labDown, labNamespaces } from '../../src/lab/index.js';
import { packageRoot } from '../../src/native/index.js';
import type { LabBenchResult } from '../../src/bench/lab/report.js';
import { kernelIt } from '../support/capability.js';

const it = kernelIt();
const BIN = join(packageRoot(), 'bin', 'ebpf-kube-proxy.js');
const MODES = ['direct', 'ebpf', 'nftables', 'iptables', 'userspace'];
/** Not the default `bench`: a benchmark someone is running must survive this test. */
const LAB = `b${process.pid % 100_000}`;

describe('ebpf-kube-proxy bench lab', () => {
  const out = mkdtempSync(join(tmpdir(), 'ekp-bench-lab-'));
  afterAll(async () => {
    await labDown(LAB);
    rmSync(out, { recursive: true, force: true });
  }, 30_000);

  it('measures every mode at two scales through the lab and takes the lab down', () => {
    const r = spawnSync(process.execPath, [BIN, 'bench', 'lab', '--json', '--modes', MODES.join(','), '--scales', '1,200', '--rounds', '1', '--duration', '1', '--threads', '1', '--connections', '2', '--lab-name', LAB, '--out', out], { encoding: 'utf8', timeout: 240_000 });
    expect(r.status, r.stderr.slice(-3000)).toBe(0);
    const res = JSON.parse(r.stdout) as LabBenchResult;

    for (const scale of [1, 200]) {
      for (const mode of MODES.filter((m) => m !== 'direct')) {
        const p = res.programming.find((x) => x.scale === scale && x.mode === mode);
        expect(p?.ms, `${mode} at ${scale}: ${p?.error}`).toBeGreaterThan(0);
      }
      for (const mode of MODES) {
        for (const kind of ['new_conn', 'keepalive']) {
          const s = res.summary.find((x) => x.scale === scale && x.mode === mode && x.kind === kind);
          expect(s?.rps, `${mode} ${kind} at ${scale}`).toBeGreaterThan(100);
          // ebpf fails none (its rare resets were the conntrack collector deleting a reused
          // tuple's new entry). The netfilter and userspace paths get a little slack: a broken
          // path fails most requests, and a loaded machine can time out one of a 1-second run.
          const requests = s!.rps * 1;
          const kinds = res.measurements.filter((m) => m.scale === scale && m.mode === mode && m.kind === kind).map((m) => m.error_kinds);
          expect(s?.errors, `${mode} ${kind} at ${scale}: ${JSON.stringify(kinds)}`).toBeLessThanOrEqual(mode === 'ebpf' ? 0 : Math.max(2, requests / 1000));
          expect(s?.vs_direct).toBeGreaterThan(0);
        }
      }
      const cost = res.packet_ns.filter((c) => c.scale === scale);
      expect(cost).toHaveLength(2);
      for (const c of cost) {
        expect(c.runs).toBeGreaterThan(100);
        expect(c.ns).toBeGreaterThan(0);
        expect(c.ns_per_request).toBeGreaterThan(0);
      }
    }
    expect(readFileSync(join(out, 'latest.md'), 'utf8')).toContain('| ebpf |');
    expect(readFileSync(join(out, 'latest.svg'), 'utf8')).toMatch(/^<svg/);
    expect(JSON.parse(readFileSync(join(out, 'latest.json'), 'utf8'))).toEqual(res);
    expect(labNamespaces(LAB)).toEqual([]);
    expect(existsSync(`/run/ekp-lab/${LAB}`)).toBe(false);
  }, 300_000);

  it('refuses ipvs on a kernel without IP_VS, naming --vm, before building anything', () => {
    const r = spawnSync(process.execPath, [BIN, 'bench', 'lab', '--modes', 'direct,ipvs', '--lab-name', LAB], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/ipvs: .*--vm/);
    expect(labNamespaces(LAB)).toEqual([]);
  });

  it('rejects bad flags with the usage', () => {
    const r = spawnSync(process.execPath, [BIN, 'bench', 'lab', '--scales', 'many'], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--scales: expected integers[\s\S]*usage: ebpf-kube-proxy bench lab/);
  });
});
