// Pure part of the lab: names, addresses and the exact `ip -batch` scripts and
// sysctls that build it. No I/O here, so all of it can be checked without root.
import type { ClientHost, FabricHost, Host, Lab, LabSpec, NodeHost, PodHost } from './types.js';

export const LAB_ROOT = '/run/ekp-lab';
export const NETNS_DIR = '/run/netns';
export const HTTP_PORT = 8080;
export const UDP_PORT = 5353;
export const MAX_NODES = 80;
export const MAX_PODS_PER_NODE = 200;
/** Every pod runs a node process (~40 MB): keep labs to what one machine holds. */
export const MAX_PODS = 512;

const NAME_RE = /^[a-z0-9]{1,12}$/;

/** Lab names are [a-z0-9]: no '-', so `ekp-<name>-` never prefixes another lab's names. */
export function validateLabName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || !NAME_RE.test(name)) {
    throw new Error(`lab name must be 1-12 characters of [a-z0-9], got ${JSON.stringify(name)}`);
  }
}

export function validateSpec(spec: LabSpec): void {
  validateLabName(spec.name);
  if (!Number.isInteger(spec.nodes) || spec.nodes < 1 || spec.nodes > MAX_NODES) {
    throw new Error(`lab nodes must be an integer in 1..${MAX_NODES}, got ${spec.nodes}`);
  }
  if (!Number.isInteger(spec.podsPerNode) || spec.podsPerNode < 0 || spec.podsPerNode > MAX_PODS_PER_NODE) {
    throw new Error(`lab podsPerNode must be an integer in 0..${MAX_PODS_PER_NODE}, got ${spec.podsPerNode}`);
  }
  if (spec.nodes * spec.podsPerNode > MAX_PODS) {
    throw new Error(`lab of ${spec.nodes * spec.podsPerNode} pods is over the limit of ${MAX_PODS}`);
  }
  if (spec.podBridge && spec.ipv6) throw new Error('a lab with pods on a bridge is IPv4 only');
  if (spec.nodeUplinkBridge && spec.ipv6) throw new Error('a lab with node uplinks on a bridge is IPv4 only');
}

/** The bridge holding a node's address in a nodeUplinkBridge lab, and its port (a macvlan of eth0). */
export const UPLINK_BRIDGE = 'br0';
export const UPLINK_PORT = 'uplink0';

/** The bridge holding a node's pods in a podBridge lab (flannel's name). */
export const POD_BRIDGE = 'cni0';

/** A podBridge lab's gateway for node i's pods: the first address of its pod CIDR, on cni0. */
export const bridgeGateway = (node: NodeHost): string => node.podCIDR.replace(/0\/24$/, '1');

export function labPrefix(name: string): string {
  return `ekp-${name}-`;
}

export function labStateDir(name: string): string {
  return `${LAB_ROOT}/${name}`;
}

function host<K extends Host['kind']>(lab: string, kind: K, name: string, ifname: string, ipv4: string, ipv6: string | undefined) {
  const netns = `${labPrefix(lab)}${name}`;
  const h = { kind, name, netns, netnsPath: `${NETNS_DIR}/${netns}`, ifname, ipv4 } as Host & { kind: K };
  if (ipv6 !== undefined) h.ipv6 = ipv6;
  return h;
}

/** Every name and address of a lab, derived from its spec alone. */
export function planLab(input: LabSpec): Lab {
  validateSpec(input);
  const spec: LabSpec = { name: input.name, nodes: input.nodes, podsPerNode: input.podsPerNode, ipv6: !!input.ipv6, ...(input.podBridge ? { podBridge: true } : {}), ...(input.nodeUplinkBridge ? { nodeUplinkBridge: true } : {}) };
  const v6 = spec.ipv6 === true;
  const fabric: FabricHost = { ...host(spec.name, 'fabric', 'fabric', 'br0', '192.168.77.1', v6 ? 'fd00:77::1' : undefined), bridge: 'br0' };
  const client: ClientHost = {
    ...host(spec.name, 'client', 'client', 'eth0', '192.168.77.100', v6 ? 'fd00:77::100' : undefined),
    fabricPort: 'client',
  };
  const nodes: NodeHost[] = [];
  const pods: PodHost[] = [];
  for (let i = 1; i <= spec.nodes; i++) {
    const nodeName = `node${i}`;
    const node: NodeHost = {
      ...host(spec.name, 'node', nodeName, 'eth0', `192.168.77.${10 + i}`, v6 ? `fd00:77::${10 + i}` : undefined),
      index: i,
      fabricPort: nodeName,
      podCIDR: `10.244.${i}.0/24`,
      pods: [],
    };
    if (v6) node.podCIDRv6 = `fd00:244:${i}::/64`;
    for (let k = 1; k <= spec.podsPerNode; k++) {
      const podName = `n${i}p${k}`;
      pods.push({
        ...host(spec.name, 'pod', podName, 'eth0', `10.244.${i}.${10 + k}`, v6 ? `fd00:244:${i}::${10 + k}` : undefined),
        index: k,
        node: nodeName,
        nodeIndex: i,
        hostVeth: `lxc${i}p${k}`,
      });
      node.pods.push(podName);
    }
    nodes.push(node);
  }
  const lab: Lab = {
    spec,
    prefix: labPrefix(spec.name),
    stateDir: labStateDir(spec.name),
    fabric,
    client,
    nodes,
    pods,
    addressing: {
      fabricCIDR: '192.168.77.0/24',
      clusterCIDR: '10.244.0.0/16',
      podGateway: '169.254.1.1',
      httpPort: HTTP_PORT,
      udpPort: UDP_PORT,
    },
  };
  if (v6) {
    lab.addressing.fabricCIDRv6 = 'fd00:77::/64';
    lab.addressing.clusterCIDRv6 = 'fd00:244::/32';
    lab.addressing.podGatewayV6 = 'fe80::1';
  }
  return lab;
}

export function allHosts(lab: Lab): Host[] {
  return [lab.fabric, lab.client, ...lab.nodes, ...lab.pods];
}

// ---------------------------------------------------------------------------
// Build steps. Order (each step's commands run in parallel):
//   1. `ip -batch`: netns add for every namespace
//   2. namespace-wide sysctls (all.*, default.*) — before any link exists, so
//      new links inherit the defaults
//   3. fabric batch (bridge, veths to nodes and client)  ∥  pod batches (eth0
//      with its host-side peer created straight in the node netns)
//   4. node batches (eth0, lxc*, routes) ∥ client batch ∥ per-interface sysctls
// ---------------------------------------------------------------------------

export function netnsAddScript(lab: Lab): string {
  return allHosts(lab).map((h) => `netns add ${h.netns}\n`).join('');
}

const COMMON_SYSCTLS = [
  'net.ipv4.conf.all.rp_filter=0',
  'net.ipv4.conf.default.rp_filter=0',
  'net.ipv6.conf.all.accept_dad=0',
  'net.ipv6.conf.default.accept_dad=0',
  'net.ipv6.conf.all.accept_ra=0',
  'net.ipv6.conf.default.accept_ra=0',
];

/** Namespace-wide sysctls, set before the namespace has links. */
export function globalSysctls(h: Host): string[] {
  switch (h.kind) {
    case 'fabric':
      // A switch, not a router. The bridge-nf keys exist only with br_netfilter
      // loaded (sysctl runs with -e, which skips absent keys).
      return [
        ...COMMON_SYSCTLS,
        'net.ipv4.ip_forward=0',
        'net.ipv6.conf.all.forwarding=0',
        'net.bridge.bridge-nf-call-iptables=0',
        'net.bridge.bridge-nf-call-ip6tables=0',
        'net.bridge.bridge-nf-call-arptables=0',
      ];
    case 'node':
      return [
        ...COMMON_SYSCTLS,
        'net.ipv4.ip_forward=1',
        'net.ipv4.conf.all.forwarding=1',
        'net.ipv4.conf.default.forwarding=1',
        'net.ipv6.conf.all.forwarding=1',
        'net.ipv6.conf.default.forwarding=1',
        // Proxy ARP answers at once instead of after a random delay of up to 0.8 s.
        'net.ipv4.neigh.default.proxy_delay=0',
      ];
    case 'client':
    case 'pod':
      return [...COMMON_SYSCTLS, 'net.ipv4.ip_forward=0', 'net.ipv6.conf.all.forwarding=0'];
  }
}

/** Per-interface sysctls of a node, once its links exist. */
export function nodeLinkSysctls(lab: Lab, node: NodeHost): string[] {
  const out = [`net.ipv4.conf.eth0.rp_filter=0`, `net.ipv4.conf.eth0.proxy_arp=0`];
  if (lab.spec.podBridge) {
    // Bridged traffic through netfilter, as kubeadm requires of a node (br_netfilter): a reply
    // from a pod to a pod on the same bridge must meet the conntrack entry of its DNAT.
    // (cni0 itself is made in parallel with these; it takes rp_filter 0 from default.)
    return [...out, 'net.bridge.bridge-nf-call-iptables=1'];
  }
  for (const pod of podsOf(lab, node)) {
    const d = pod.hostVeth;
    out.push(
      `net.ipv4.conf.${d}.proxy_arp=1`,
      `net.ipv4.conf.${d}.rp_filter=0`,
      `net.ipv4.conf.${d}.forwarding=1`,
      `net.ipv4.neigh.${d}.proxy_delay=0`,
    );
  }
  return out;
}

export function podsOf(lab: Lab, node: NodeHost): PodHost[] {
  return lab.pods.filter((p) => p.nodeIndex === node.index);
}

const prefixLen = (cidr: string) => cidr.slice(cidr.indexOf('/'));

/** Runs with `ip -n <fabric> -batch -`. */
export function fabricScript(lab: Lab): string {
  const f = lab.fabric;
  const lines = [
    'link set lo up',
    `link add ${f.bridge} type bridge stp_state 0 forward_delay 0 mcast_snooping 0`,
    `addr add ${f.ipv4}${prefixLen(lab.addressing.fabricCIDR)} dev ${f.bridge}`,
  ];
  if (f.ipv6 && lab.addressing.fabricCIDRv6) lines.push(`addr add ${f.ipv6}${prefixLen(lab.addressing.fabricCIDRv6)} dev ${f.bridge} nodad`);
  lines.push(`link set ${f.bridge} up`);
  for (const h of [lab.client, ...lab.nodes]) {
    lines.push(
      `link add ${h.fabricPort} type veth peer name eth0 netns ${h.netns}`,
      `link set ${h.fabricPort} master ${f.bridge}`,
      `link set ${h.fabricPort} up`,
    );
  }
  return lines.map((l) => `${l}\n`).join('');
}

/** Runs with `ip -n <pod> -batch -`; creates the host veth in the node netns. */
export function podScript(lab: Lab, pod: PodHost): string {
  const node = lab.nodes[pod.nodeIndex - 1]!;
  const gw = lab.addressing.podGateway;
  const lines = [
    'link set lo up',
    `link add eth0 type veth peer name ${pod.hostVeth} netns ${node.netns}`,
  ];
  if (lab.spec.podBridge) {
    lines.push(`addr add ${pod.ipv4}${prefixLen(node.podCIDR)} dev eth0`, 'link set eth0 up', `route add default via ${bridgeGateway(node)} dev eth0`);
    return lines.map((l) => `${l}\n`).join('');
  }
  lines.push(`addr add ${pod.ipv4}/32 dev eth0`);
  if (pod.ipv6) lines.push(`addr add ${pod.ipv6}/128 dev eth0 nodad`);
  lines.push('link set eth0 up', `route add ${gw} dev eth0 scope link`, `route add default via ${gw} dev eth0`);
  if (pod.ipv6 && lab.addressing.podGatewayV6) lines.push(`route add ::/0 via ${lab.addressing.podGatewayV6} dev eth0`);
  return lines.map((l) => `${l}\n`).join('');
}

/** Runs with `ip -n <node> -batch -` after the fabric and pod scripts. */
export function nodeScript(lab: Lab, node: NodeHost): string {
  const a = lab.addressing;
  // The device holding the node's address: eth0, or the bridge above it (nodeUplinkBridge).
  const dev = lab.spec.nodeUplinkBridge ? UPLINK_BRIDGE : 'eth0';
  const lines = ['link set lo up'];
  // The bridge's port is a macvlan of eth0, as a NIC (or a VLAN of one) would be: eth0 is a veth,
  // and a veth in a bridge is a pod's.
  if (lab.spec.nodeUplinkBridge) {
    lines.push(
      `link add ${dev} type bridge stp_state 0 forward_delay 0 mcast_snooping 0`, 'link set eth0 up',
      `link add link eth0 name ${UPLINK_PORT} type macvlan mode passthru`, `link set ${UPLINK_PORT} master ${dev}`, `link set ${UPLINK_PORT} up`,
    );
  }
  lines.push(`addr add ${node.ipv4}${prefixLen(a.fabricCIDR)} dev ${dev}`);
  if (node.ipv6 && a.fabricCIDRv6) lines.push(`addr add ${node.ipv6}${prefixLen(a.fabricCIDRv6)} dev ${dev} nodad`);
  lines.push(`link set ${dev} up`, `route add default via ${lab.fabric.ipv4} dev ${dev}`);
  if (node.ipv6 && lab.fabric.ipv6) lines.push(`route add ::/0 via ${lab.fabric.ipv6} dev ${dev}`);
  if (lab.spec.podBridge) {
    lines.push(
      `link add ${POD_BRIDGE} type bridge stp_state 0 forward_delay 0 mcast_snooping 0`,
      `addr add ${bridgeGateway(node)}${prefixLen(node.podCIDR)} dev ${POD_BRIDGE}`,
      `link set ${POD_BRIDGE} up`,
      // Hairpin mode on every port, as flannel's bridge plugin sets it (hairpinMode): with
      // bridge-nf-call-iptables, a pod's packet DNATed back to itself leaves by the port it came in on.
      ...podsOf(lab, node).flatMap((pod) => [`link set ${pod.hostVeth} master ${POD_BRIDGE}`, `link set dev ${pod.hostVeth} type bridge_slave hairpin on`, `link set ${pod.hostVeth} up`]),
    );
  }
  for (const pod of lab.spec.podBridge ? [] : podsOf(lab, node)) {
    lines.push(`link set ${pod.hostVeth} up`, `route add ${pod.ipv4}/32 dev ${pod.hostVeth} scope link`);
    if (pod.ipv6 && a.podGatewayV6) {
      lines.push(`addr add ${a.podGatewayV6}/64 dev ${pod.hostVeth} nodad`, `route add ${pod.ipv6}/128 dev ${pod.hostVeth}`);
    }
  }
  // Addresses of this node's pod CIDR that no pod holds fail at once (on a bridge: cni0's route).
  if (!lab.spec.podBridge) lines.push(`route add unreachable ${node.podCIDR}`);
  if (node.podCIDRv6) lines.push(`route add unreachable ${node.podCIDRv6}`);
  for (const other of lab.nodes) {
    if (other.index === node.index) continue;
    lines.push(`route add ${other.podCIDR} via ${other.ipv4} dev ${dev}`);
    if (other.podCIDRv6 && other.ipv6) lines.push(`route add ${other.podCIDRv6} via ${other.ipv6} dev ${dev}`);
  }
  return lines.map((l) => `${l}\n`).join('');
}

/** Runs with `ip -n <client> -batch -` after the fabric script. */
export function clientScript(lab: Lab): string {
  const c = lab.client;
  const a = lab.addressing;
  const lines = ['link set lo up', `addr add ${c.ipv4}${prefixLen(a.fabricCIDR)} dev eth0`];
  if (c.ipv6 && a.fabricCIDRv6) lines.push(`addr add ${c.ipv6}${prefixLen(a.fabricCIDRv6)} dev eth0 nodad`);
  lines.push('link set eth0 up', `route add default via ${lab.fabric.ipv4} dev eth0`);
  if (c.ipv6 && lab.fabric.ipv6) lines.push(`route add ::/0 via ${lab.fabric.ipv6} dev eth0`);
  return lines.map((l) => `${l}\n`).join('');
}

/** Host (by short name, e.g. `n1p2`, or by netns name) in a lab. */
export function findHost(lab: Lab, name: string): Host | undefined {
  return allHosts(lab).find((h) => h.name === name || h.netns === name);
}

/** The host's addresses: IPv4 first, then IPv6 when dual-stack. */
export function hostAddrs(h: Host): string[] {
  return h.ipv6 ? [h.ipv4, h.ipv6] : [h.ipv4];
}

/** `host:port` with IPv6 addresses bracketed. */
export function joinHostPort(addr: string, port: number): string {
  return addr.includes(':') ? `[${addr}]:${port}` : `${addr}:${port}`;
}

/** Splits a pod server's `client` field (`1.2.3.4:5` or `[fd00::1]:5`). */
export function splitHostPort(s: string): { ip: string; port: number } {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(s) ?? /^([^:]+):(\d+)$/.exec(s);
  if (!m) throw new Error(`not a host:port: ${JSON.stringify(s)}`);
  return { ip: m[1]!, port: Number(m[2]) };
}

/** `http://<pod>:8080<path>` for a pod's HTTP server. */
export function podURL(pod: PodHost, path = '/', family: 4 | 6 = 4): string {
  const addr = family === 6 ? pod.ipv6 : pod.ipv4;
  if (!addr) throw new Error(`pod ${pod.name} has no IPv${family} address (lab not dual-stack)`);
  return `http://${joinHostPort(addr, HTTP_PORT)}${path}`;
}
