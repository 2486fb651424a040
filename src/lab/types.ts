// The lab's data model: plain JSON-serialisable records, so that labState() can
// read back exactly what labUp() returned from the state file.

export interface LabSpec {
  /** Short id ([a-z0-9], 1–12 chars) used in every netns name: `ekp-<name>-…`. */
  name: string;
  /** Number of nodes, 1–80. */
  nodes: number;
  /** Pods per node, 0–200. */
  podsPerNode: number;
  /** Dual-stack: fd00:77::/64 on the fabric, fd00:244:<i>::/64 for node i's pods. */
  ipv6?: boolean;
  /**
   * Pods on a Linux bridge, as flannel's and k3s's CNI put them: `cni0` in each node holds the
   * first address of its pod CIDR, the pods' gateway, and the host veths are its ports. Default:
   * routed veths with proxy ARP (Calico's and Cilium's way). IPv4 only.
   */
  podBridge?: boolean;
  /**
   * Each node's eth0 carries a bridge `br0` that holds the node's address and default route (its
   * port is a macvlan of eth0, as a NIC or a VLAN of one would be), as on bare-metal hosts that
   * also carry VMs. IPv4 only.
   */
  nodeUplinkBridge?: boolean;
}

export type HostKind = 'fabric' | 'client' | 'node' | 'pod';

/** Something living in one of the lab's network namespaces. */
export interface Host {
  kind: HostKind;
  /** Short name: `fabric`, `client`, `node<i>`, `n<i>p<k>`. Pod servers report these. */
  name: string;
  /** Network namespace name: `ekp-<lab>-<name>`. */
  netns: string;
  /** `/run/netns/<netns>`, for nsenter --net=. */
  netnsPath: string;
  /** The interface carrying the host's address (`eth0`; `br0` on the fabric). */
  ifname: string;
  /** Primary IPv4 address (no prefix length). */
  ipv4: string;
  /** Primary IPv6 address when the lab is dual-stack. */
  ipv6?: string;
}

export interface FabricHost extends Host {
  kind: 'fabric';
  /** The bridge every node and the client attach to. */
  bridge: string;
}

export interface ClientHost extends Host {
  kind: 'client';
  /** Bridge port in the fabric netns facing the client. */
  fabricPort: string;
}

export interface NodeHost extends Host {
  kind: 'node';
  /** 1-based. */
  index: number;
  /** Bridge port in the fabric netns facing this node. */
  fabricPort: string;
  podCIDR: string;
  podCIDRv6?: string;
  /** Names of the pods on this node, in order. */
  pods: string[];
}

export interface PodHost extends Host {
  kind: 'pod';
  /** 1-based index within its node. */
  index: number;
  /** Name of the node the pod lives on (`node<i>`). */
  node: string;
  nodeIndex: number;
  /** Host-side veth in the node netns (`lxc<i>p<k>`): proxy_arp on and a /32 route to the pod, or a port of cni0 (podBridge). */
  hostVeth: string;
  /** Pid of the pod's HTTP+UDP server (set once labUp started it). */
  serverPid?: number;
}

export interface LabAddressing {
  fabricCIDR: string;
  fabricCIDRv6?: string;
  /** The whole pod range, 10.244.0.0/16 (fd00:244::/32 for v6). */
  clusterCIDR: string;
  clusterCIDRv6?: string;
  /** Pod-side gateway (proxy ARP on the host veth). */
  podGateway: string;
  podGatewayV6?: string;
  httpPort: number;
  udpPort: number;
}

export interface Lab {
  spec: LabSpec;
  /** Prefix of every netns of this lab: `ekp-<name>-`. */
  prefix: string;
  /** `/run/ekp-lab/<name>`: state.json, pid files, logs, the pod server script. */
  stateDir: string;
  fabric: FabricHost;
  client: ClientHost;
  nodes: NodeHost[];
  pods: PodHost[];
  addressing: LabAddressing;
  /** ISO time labUp finished. */
  createdAt?: string;
}

/** A pod server's reply (HTTP body and UDP datagram alike). */
export interface PodReply {
  pod: string;
  node: string;
  /** `<addr>:<port>` as the server saw the peer (`[addr]:port` for IPv6). */
  client: string;
  /** The size of a datagram bigger than a frame, which is answered with one as big. */
  got?: number;
}
