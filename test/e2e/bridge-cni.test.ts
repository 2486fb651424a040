// Pods on a Linux bridge, as flannel's and k3s's CNI put them (cni0 holds the pods' gateway
// address, the host veths are its ports), instead of the scenario table's routed veths. The
// paths differ: a pod's packets reach the node through cni0, a device with a global address
// (ebpf takes it for a node device), and a reply between two pods of one node is bridged,
// never routed (netfilter modes need bridge-nf-call-iptables, as kubeadm checks, and hairpin
// mode on the ports, as flannel sets it, for a pod reaching itself). One lab;
// each kernel mode in turn, each taking over from the last (its start removes the other
// modes' state). Then a node whose NIC is a port of the bridge holding its address. In the
// qemu VM of the ipvs tests (EKP_IN_VM=1, where br_netfilter is loaded) the same for ipvs alone.
import { afterAll, beforeAll, describe, expect, vi } from 'vitest';
import {
  execIn, httpGetMany, labDown, labUp, manifestsDir, startProxies, stopProxy, writeManifests, type Lab, type LabSpec, type ServiceDef,
} from '../../src/lab/index.js';
import { mountPrivateBpffs, type PrivateBpffs } from '../support/bpffs.js';
import { kernelIt } from '../support/capability.js';
import { answers, hostOf } from './scenarios.js';
import { IN_VM } from './vm-slow.js';

vi.mock('../../src/lab/index.js', async (orig) => (await import('./vm-slow.js')).slowLab(orig as () => Promise<typeof import('../../src/lab/index.js')>));
/** The emulated VM is slow: lab setup and each mode's turn. */
const TIMEOUT_MS = IN_VM ? 200_000 : 60_000;

const it = kernelIt();

/** A TCP Service on the pods' HTTP port. */
const svc = (lab: Lab, name: string, clusterIP: string, pods: string[], extra: Partial<ServiceDef> = {}): ServiceDef =>
  ({ name, clusterIP, type: 'ClusterIP', protocol: 'TCP', port: 80, targetPort: lab.addressing.httpPort, pods, ...extra });

/** A lab of the describe block's own (`tag`: one letter), with these Services, taken down after it. */
function useLab(tag: string, spec: Omit<LabSpec, 'name'>, services: (lab: Lab) => ServiceDef[]): { lab: Lab; fs: PrivateBpffs } {
  const name = `${tag}${process.pid % 100_000}`;
  const env = {} as { lab: Lab; fs: PrivateBpffs };
  beforeAll(async () => {
    env.fs = mountPrivateBpffs();
    env.lab = await labUp({ name, ...spec });
    writeManifests(manifestsDir(env.lab), env.lab, services(env.lab));
  }, TIMEOUT_MS);
  afterAll(async () => {
    if (env.lab) await labDown(name, { pinBase: env.fs?.path });
    env.fs?.dispose();
  }, 60_000);
  return env;
}

describe('pods on a Linux bridge (cni0, as flannel and k3s)', () => {
  const env = useLab('b', { nodes: 2, podsPerNode: 2, podBridge: true }, (lab) => [
    svc(lab, 'near', '10.96.0.60', ['n1p2']),
    svc(lab, 'far', '10.96.0.61', ['n2p1']),
    svc(lab, 'self', '10.96.0.62', ['n1p1']),
    svc(lab, 'np', '10.96.0.63', ['n1p2', 'n2p1'], { type: 'NodePort', nodePort: 30090, externalTrafficPolicy: 'Cluster' }),
    svc(lab, 'np-local', '10.96.0.64', ['n1p2', 'n2p1'], { type: 'NodePort', nodePort: 30091, externalTrafficPolicy: 'Local' }),
  ]);

  for (const mode of IN_VM ? ['ipvs'] : ['ebpf', 'nftables', 'iptables']) {
    it(`${mode}: a pod reaches ClusterIPs on its own bridge, on another node and itself; NodePorts from outside reach pods behind the bridge`, async () => {
      const { lab, fs } = env;
      expect(lab).toBeDefined();
      const [n1p1, n1p2, n2p1] = ['n1p1', 'n1p2', 'n2p1'].map((p) => lab.pods.find((x) => x.name === p)!);
      const node1 = lab.nodes[0]!;
      // ebpf translates at the pod's veth, before the bridge: it needs no hairpin mode (a bridge
      // plugin without hairpinMode), which is taken away for its turn.
      const hairpin = (on: boolean) => Promise.all(lab.pods.filter((p) => p.node === node1.name)
        .map((p) => execIn(node1, ['ip', 'link', 'set', 'dev', p.hostVeth, 'type', 'bridge_slave', 'hairpin', on ? 'on' : 'off'])));
      try {
        if (mode === 'ebpf') await hairpin(false);
        await startProxies(lab, { mode, pinBase: fs.path });
        // --bpf-xdp auto: cni0 has no native XDP, and generic XDP would copy every cloned TCP skb of the pods: tc alone.
        if (mode === 'ebpf') expect(await execIn(node1, ['ip', 'link', 'show', 'dev', 'cni0'])).not.toMatch(/xdp/);
        // A backend on the client's own bridge: its reply to the client is bridged, and must still come from the ClusterIP.
        for (const r of answers(await httpGetMany(n1p1!, 'http://10.96.0.60/', 4), 'same bridge')) {
          expect([r.pod, hostOf(r.client)]).toEqual([n1p2!.name, n1p1!.ipv4]);
        }
        for (const r of answers(await httpGetMany(n1p1!, 'http://10.96.0.61/', 4), 'other node')) {
          expect([r.pod, hostOf(r.client)]).toEqual([n2p1!.name, n1p1!.ipv4]);
        }
        // Hairpin: the pod is its own backend, so it must see another source than its own.
        for (const r of answers(await httpGetMany(n1p1!, 'http://10.96.0.62/', 2), 'hairpin')) {
          expect(r.pod).toBe(n1p1!.name);
          expect(hostOf(r.client)).not.toBe(n1p1!.ipv4);
        }
        const cluster = answers(await httpGetMany(lab.client, `http://${node1.ipv4}:30090/`, 12), 'NodePort eTP Cluster');
        expect(new Set(cluster.map((r) => r.pod))).toEqual(new Set([n1p2!.name, n2p1!.name]));
        for (const r of answers(await httpGetMany(lab.client, `http://${node1.ipv4}:30091/`, 4), 'NodePort eTP Local')) {
          expect([r.pod, hostOf(r.client)]).toEqual([n1p2!.name, lab.client.ipv4]);
        }
      } finally {
        // Whatever failed, the next mode starts from the lab as it was (a proxy already gone is no error).
        for (const node of lab.nodes) await stopProxy(lab, node, 'SIGTERM').catch(() => {});
        await hairpin(true);
      }
    }, TIMEOUT_MS);
  }
});

// ebpf only: the other modes never look at devices (and a skipped test would fail the VM run).
if (!IN_VM) describe('a node whose NIC is a port of a bridge holding its address (bare metal with VMs: br0)', () => {
  const env = useLab('u', { nodes: 2, podsPerNode: 1, nodeUplinkBridge: true }, (lab) => [
    svc(lab, 'np', '10.96.0.65', ['n2p1'], { type: 'NodePort', nodePort: 30092, externalTrafficPolicy: 'Cluster' }),
    svc(lab, 'np-local', '10.96.0.66', ['n1p1'], { type: 'NodePort', nodePort: 30093, externalTrafficPolicy: 'Local' }),
  ]);

  it('ebpf: the bridge\'s port and eth0 under it are the uplink, not a pod\'s: a NodePort reaches a remote backend (SNAT, the reply comes back through the node) and a local one (client address kept)', async () => {
    const { lab, fs } = env;
    expect(lab).toBeDefined();
    const node1 = lab.nodes[0]!;
    await startProxies(lab, { mode: 'ebpf', pinBase: fs.path });
    try {
      // Nothing of ours on the uplink's two devices; a pod's veth has its programs.
      const tcIngress = (dev: string) => execIn(node1, ['tc', 'filter', 'show', 'dev', dev, 'ingress']);
      for (const dev of ['eth0', 'uplink0']) {
        expect(await tcIngress(dev), dev).not.toMatch(/bpf/);
        expect(await execIn(node1, ['ip', 'link', 'show', 'dev', dev]), dev).not.toMatch(/xdp/);
      }
      expect(await tcIngress(lab.pods[0]!.hostVeth)).toMatch(/bpf/);
      for (const r of answers(await httpGetMany(lab.client, `http://${node1.ipv4}:30092/`, 4), 'NodePort to another node')) {
        expect([r.pod, hostOf(r.client)]).toEqual(['n2p1', node1.ipv4]);
      }
      for (const r of answers(await httpGetMany(lab.client, `http://${node1.ipv4}:30093/`, 4), 'NodePort eTP Local')) {
        expect([r.pod, hostOf(r.client)]).toEqual(['n1p1', lab.client.ipv4]);
      }
      for (const r of answers(await httpGetMany(lab.pods[0]!, 'http://10.96.0.65/', 4), 'ClusterIP from a pod')) {
        expect([r.pod, hostOf(r.client)]).toEqual(['n2p1', lab.pods[0]!.ipv4]);
      }
    } finally {
      for (const node of lab.nodes) await stopProxy(lab, node, 'SIGTERM');
    }
  }, 60_000);
});
