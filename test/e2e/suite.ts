// Runs the scenario table against one proxy mode in a fresh 2-node lab.
import { afterAll, beforeAll, describe, expect } from 'vitest';
import {
  clientRouteVia, exampleServices, labDown, labUp, LAB_EXTERNAL_IP, manifestsDir, startProxies, startProxy, stopProxy, waitSynced, writeManifests, type Lab,
} from '../../src/lab/index.js';
import { mountPrivateBpffs, type PrivateBpffs } from '../support/bpffs.js';
import { kernelIt } from '../support/capability.js';
import { SCENARIOS, type ScenarioEnv } from './scenarios.js';

/**
 * `labTag`: one letter, so that suites of different modes never share a lab
 * name. `ipv6`: a dual-stack lab with dual-stack Services, and the IPv6 scenarios.
 * `timeoutMs`: for the lab's setup and each scenario (default 60 s; the emulated VM needs more).
 */
export function scenarioSuite(mode: string, labTag: string, suiteOpts: { ipv6?: boolean; timeoutMs?: number } = {}): void {
  const timeoutMs = suiteOpts.timeoutMs ?? 60_000;
  const it = kernelIt();
  describe(`end to end, ${mode} mode, in a 2-node ${suiteOpts.ipv6 ? 'dual-stack ' : ''}lab`, () => {
    let lab: Lab;
    let fs: PrivateBpffs;
    const name = `${labTag}${process.pid % 100_000}`;
    let env: ScenarioEnv;

    beforeAll(async () => {
      fs = mountPrivateBpffs();
      lab = await labUp({ name, nodes: 2, podsPerNode: 2, ipv6: !!suiteOpts.ipv6 });
      writeManifests(manifestsDir(lab), lab, exampleServices(lab));
      await clientRouteVia(lab, `${LAB_EXTERNAL_IP}/32`, lab.nodes[0]!);
      // The lab's node devices are veths, where ebpf's default leaves XDP off (see wantsXdp): the
      // suite turns it on so that the XDP path runs with real traffic. Syncs at least 100 ms apart,
      // not kube-proxy's 1 s: a scenario that changes a Service and puts it back would wait out
      // most of a second for the second sync (the runner's own tests cover the rate limit).
      const syncs = ['--iptables-min-sync-period', '100ms', '--ipvs-min-sync-period', '100ms'];
      const opts = { mode, pinBase: fs.path, extraArgs: [...syncs, ...(mode === 'ebpf' ? ['--bpf-xdp', 'on'] : [])] };
      await startProxies(lab, opts);
      env = {
        lab,
        async setServices(defs) {
          const at = Date.now();
          if (writeManifests(manifestsDir(lab), lab, defs)) await waitSynced(lab, at);
        },
        async restartProxy(node, signal, extraArgs = []) {
          await stopProxy(lab, node, signal);
          await startProxy(lab, node, { ...opts, extraArgs: [...(opts.extraArgs ?? []), ...extraArgs] });
        },
        stopProxy: (node, signal) => stopProxy(lab, node, signal),
        startProxy: async (node) => void (await startProxy(lab, node, opts)),
      };
    }, timeoutMs);

    afterAll(async () => {
      if (lab) await labDown(name, { pinBase: fs?.path });
      fs?.dispose();
    }, 60_000);

    for (const s of SCENARIOS.filter((x) => !x.notIn?.includes(mode) && (!x.needsIPv6 || suiteOpts.ipv6))) {
      it(s.name, async () => {
        expect(lab).toBeDefined();
        await s.run(env);
      }, timeoutMs);
    }
  });
}
