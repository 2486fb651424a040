import { labDown, labUp, exampleServices, writeManifests, manifestsDir, clientRouteVia, LAB_EXTERNAL_IP, startProxies, httpGetMany, udpAskMany, defaultPinBase } from '../lab/index.js';
import { formatCurl, formatServices } from '../lab/cli.js';

/**
 * `npm run demo`: a 2-node lab with the ebpf proxy on each node, traffic
 * through each kind of Service, a table of who answered, then everything
 * removed again.
 */
export async function runDemo(args: string[]): Promise<number> {
  const mode = args.includes('--proxy-mode') ? args[args.indexOf('--proxy-mode') + 1]! : 'ebpf';
  const name = 'demo';
  const out = (s: string) => process.stdout.write(`${s}\n`);
  const t0 = Date.now();
  out(`bringing up lab "${name}": 2 nodes x 2 pods, ${mode} proxy on each node…`);
  try {
    const lab = await labUp({ name, nodes: 2, podsPerNode: 2 });
    writeManifests(manifestsDir(lab), lab, exampleServices(lab));
    await clientRouteVia(lab, `${LAB_EXTERNAL_IP}/32`, lab.nodes[0]!);
    await startProxies(lab, { mode });
    out(`up in ${Date.now() - t0} ms\n${formatServices(lab)}\n`);
    const node1 = lab.nodes[0]!;
    const pod = lab.pods[0]!;
    const runs: [string, () => Promise<Parameters<typeof formatCurl>[1]>][] = [
      [`web (ClusterIP 10.96.0.10:80) from pod ${pod.name}`, () => httpGetMany(pod, 'http://10.96.0.10/', 8)],
      [`web-nodeport (NodePort ${node1.ipv4}:30080, eTP Cluster) from the external client`, () => httpGetMany(lab.client, `http://${node1.ipv4}:30080/`, 8)],
      [`web-local (NodePort ${node1.ipv4}:30081, eTP Local) from the external client: local pods, client IP kept`, () => httpGetMany(lab.client, `http://${node1.ipv4}:30081/`, 6)],
      [`sticky (ClusterIP, ClientIP affinity) from pod ${pod.name}`, () => httpGetMany(pod, 'http://10.96.0.13/', 6)],
      [`echo (UDP ClusterIP 10.96.0.15:53) from pod ${pod.name}`, () => udpAskMany(pod, '10.96.0.15', 53, 4)],
      [`empty (no endpoints) from pod ${pod.name}: refused at once`, () => httpGetMany(pod, 'http://10.96.0.14/', 2, { timeoutMs: 2000 })],
    ];
    for (const [title, run] of runs) out(`${formatCurl(title, await run())}\n`);
    return 0;
  } finally {
    await labDown(name, { pinBase: defaultPinBase(name) });
    out(`lab removed; total ${Date.now() - t0} ms`);
  }
}
