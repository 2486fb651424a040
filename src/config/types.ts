import type { PodInterface } from '../model/node.js';
import type { ProxyMode } from '../probe/index.js';

export type RequestedMode = ProxyMode | 'auto';

/** Everything the daemon runs with, after defaults, the config file and flags. */
export interface ProxyConfig {
  mode: RequestedMode;
  /** Where Services come from: a kubeconfig (or in-cluster when null), or a manifest directory. */
  kubeconfig: string | null;
  /** kube-proxy's --master: the API server's address, over the kubeconfig's (or in-cluster's). */
  master: string | null;
  manifestsDir: string | null;
  contentType: 'application/vnd.kubernetes.protobuf' | 'application/json';
  qps: number;
  burst: number;
  hostnameOverride: string | null;
  clusterCIDRs: string[];
  /** CIDRs, or ['primary'], or [] for every local address. */
  nodePortAddresses: string[];
  masqueradeAll: boolean;
  masqueradeBit: number;
  healthzBindAddress: string;
  metricsBindAddress: string;
  /**
   * kube-proxy's bindAddress: overrides which address is this node's primary one in its family
   * (the Node's first InternalIP otherwise). The name is historical: nothing binds to it. Null
   * when unset or unspecified (0.0.0.0, ::).
   */
  bindAddress: string | null;
  /** A health or metrics server that cannot bind ends the process (exit 1); otherwise it is retried every 5 s. */
  bindAddressHardFail: boolean;
  /** kube-proxy's udpIdleTimeout (its userspace proxy's): our userspace mode's UDP session idle time; null when unset. */
  udpIdleTimeoutMs: number | null;
  syncPeriodMs: number;
  minSyncPeriodMs: number;
  /**
   * iptables.localhostNodePorts (kube-proxy's default true): the iptables mode serves NodePorts on
   * 127.0.0.1 too (IPv4 only), when nodePortAddresses leaves loopback in.
   */
  iptablesLocalhostNodePorts: boolean;
  ipvsScheduler: string;
  ipvsStrictARP: boolean;
  /** ipvs.tcpTimeout, tcpFinTimeout, udpTimeout in whole seconds (as kube-proxy rounds them); 0 leaves the kernel's. */
  ipvsTimeouts: { tcpS: number; tcpFinS: number; udpS: number };
  /**
   * kube-proxy's detectLocalMode: which sources are pods. '' (unset): clusterCIDR, else the Node's
   * podCIDRs. ClusterCIDR: clusterCIDR only (none set: no detection, as kube-proxy). NodeCIDR: the
   * Node's podCIDRs. BridgeInterface and InterfaceNamePrefix: what comes in on podInterface (the
   * netfilter modes match it; ebpf tells pods by their device anyway; userspace cannot see
   * interfaces and falls back to '' with a warning).
   */
  detectLocalMode: '' | 'ClusterCIDR' | 'NodeCIDR' | 'BridgeInterface' | 'InterfaceNamePrefix';
  /** detectLocal.bridgeInterface (exact name) or interfaceNamePrefix, as the mode says; null for the other modes. */
  podInterface: PodInterface | null;
  conntrack: {
    tcpEstablishedTimeoutMs: number;
    tcpCloseWaitTimeoutMs: number;
    udpTimeoutMs: number;
    /** conntrack.udpTimeout / udpStreamTimeout as given (null: the kernel's stays, as kube-proxy leaves it). */
    udpTimeoutGivenMs: number | null;
    udpStreamTimeoutMs: number | null;
    tcpBeLiberal: boolean;
    /** TCP timeouts given as 0s: kube-proxy leaves the kernel's sysctl then (the datapath's maps keep the default). */
    keepKernelTcpEstablished: boolean;
    keepKernelTcpCloseWait: boolean;
    /** conntrack.maxPerCore > 0: conntrackMax goes to nf_conntrack_max (0 leaves the kernel's). */
    setMax: boolean;
  };
  /** ebpf mode. */
  devices: string[] | null;
  bpfPinDir: string;
  cgroupRoot: string | null;
  /** Backend selection in the eBPF datapath. */
  lbAlgorithm: 'random' | 'maglev';
  /**
   * XDP on node devices: auto (native XDP where the device is not a veth and has it: a veth hands over
   * skbs, which XDP there converts back, copying the ones TCP cloned; tc is cheaper), on (every
   * node device, generic XDP where native is refused), off.
   */
  bpfXdp: 'auto' | 'on' | 'off';
  /** Entries of the eBPF slot pool (random lists and Maglev tables of every service). */
  bpfSlots: number;
  /** Service ports the eBPF maps hold (their frontends get four times as many entries). */
  bpfMaxServices: number;
  /** Distinct backends (endpoint address and port) the eBPF maps hold. */
  bpfMaxBackends: number;
  /** Conntrack table size: max(conntrack.min, conntrack.maxPerCore × CPUs), as kube-proxy sizes nf_conntrack. */
  conntrackMax: number;
  /** Written to /proc/self/oom_score_adj at start (kube-proxy's oomScoreAdj, default -999). */
  oomScoreAdj: number;
  cleanup: boolean;
  /**
   * kube-proxy's --init-only: the node is set up by every start of run, so there is nothing to do
   * ahead; run says so and exits 0, as kube-proxy's init container would.
   */
  initOnly: boolean;
  /** kube-proxy's --write-config-to (null unset): no configuration is written here; run says so and exits 1. */
  writeConfigTo: string | null;
  /**
   * kube-proxy's featureGates, the file's with --feature-gates over them gate by gate, as given
   * (checked against kube-proxy v1.35's gates; see feature-gates.ts for what each does here).
   */
  featureGates: Record<string, boolean>;
  logFormat: 'json' | 'text';
  verbosity: number;
}

export class ConfigError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(problems.join('\n'));
    this.problems = problems;
  }
}
