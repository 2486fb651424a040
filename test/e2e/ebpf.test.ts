import { afterAll, beforeAll, describe, expect } from 'vitest';
import {
  clientRouteVia, exampleServices, labDown, labUp, LAB_EXTERNAL_IP, manifestsDir, startProxies, startProxy, stopProxy, waitSynced, writeManifests, type Lab,
} from '../../src/lab/index.js';
import { mountPrivateBpffs, type PrivateBpffs } from '../support/bpffs.js';
import { kernelIt } from '../support/capability.js';
import { SCENARIOS, type ScenarioEnv } from './scenarios.js';

const it = kernelIt();
const MODE = 'ebpf';

describe(`end to end, ${MODE} mode, in a 2-node lab`, () => {
  let lab: Lab;
  let fs: PrivateBpffs;
  const name = `e${process.pid % 100_000}`;
  let env: ScenarioEnv;

  beforeAll(async () => {
    fs = mountPrivateBpffs();
    lab = await labUp({ name, nodes: 2, podsPerNode: 2 });
    writeManifests(manifestsDir(lab), lab, exampleServices(lab));
    await clientRouteVia(lab, `${LAB_EXTERNAL_IP}/32`, lab.nodes[0]!);
    const opts = { mode: MODE, pinBase: fs.path };
    await startProxies(lab, opts);
    env = {
      lab,
      async setServices(defs) {
        const at = Date.now();
        if (writeManifests(manifestsDir(lab), lab, defs)) await waitSynced(lab, at);
      },
      async restartProxy(node, signal) {
        await stopProxy(lab, node, signal);
        await startProxy(lab, node, opts);
      },
      stopProxy: (node, signal) => stopProxy(lab, node, signal),
      startProxy: async (node) => void (await startProxy(lab, node, opts)),
    };
  }, 60_000);

  afterAll(async () => {
    if (lab) await labDown(name, { pinBase: fs?.path });
    fs?.dispose();
  }, 60_000);

  for (const s of SCENARIOS.filter((x) => !x.notIn?.includes(MODE))) {
    it(s.name, async () => {
      expect(lab).toBeDefined();
      await s.run(env);
    }, 60_000);
  }
});
