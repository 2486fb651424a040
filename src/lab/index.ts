// The lab: a Kubernetes-like cluster network built from network namespaces on
// this machine (fabric bridge, nodes, routed pods, an external client), with an
// HTTP+UDP server in every pod. Used by `ebpf-kube-proxy lab`, the benchmark
// and the end-to-end tests.
export type { ClientHost, FabricHost, Host, HostKind, Lab, LabAddressing, LabSpec, NodeHost, PodHost, PodReply } from './types.js';
export {
  allHosts,
  findHost,
  hostAddrs,
  HTTP_PORT,
  joinHostPort,
  LAB_ROOT,
  labPrefix,
  labStateDir,
  planLab,
  podURL,
  splitHostPort,
  UDP_PORT,
  validateLabName,
} from './plan.js';
export {
  clientRouteDel,
  clientRouteVia,
  labDown,
  labList,
  labNamespaces,
  labProcesses,
  labState,
  labStatus,
  labUp,
  pidAlive,
  podServerScript,
  type LabDownOptions,
  type LabStatus,
  type LabUpOptions,
} from './lab.js';
export { execIn, LabCommandError, nsenterArgv, tryExecIn, type RunOptions, type RunResult } from './exec.js';
export { httpGet, httpGetMany, httpText, LabProbeError, udpAsk, udpAskMany, type HttpOptions, type ProbeOutcome, type UdpOptions } from './probe.js';
export * from './manifests.js';
export * from './proxy.js';
