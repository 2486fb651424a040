import type { HistogramSample, Logger } from '../observe/index.js';
import type { ProxyConfig } from '../config/index.js';
import type { ProxyMode } from '../probe/index.js';
import type { StateConsumer } from '../tracker/index.js';

/** A sample of a metric read from the kernel at scrape time. */
export interface KernelSample {
  labels: Record<string, string>;
  value: number;
}

/** A metric a dataplane keeps or reads from the kernel, as it is at scrape time. */
export type KernelMetric =
  | { help: string; type: 'counter' | 'gauge'; samples: KernelSample[] }
  /** `buckets`: the upper bounds; each sample's `value` is its number of observations. */
  | { help: string; type: 'histogram'; buckets: readonly number[]; samples: HistogramSample[] };

/**
 * One datapath mode. Every mode takes the same desired state (apply) and must
 * pass the same end-to-end scenario table.
 */
export interface Dataplane extends StateConsumer {
  readonly mode: ProxyMode;
  /**
   * Gets the kernel ready (load and attach programs, create tables). Must be
   * safe after a crash or kill -9 of a previous instance: it adopts what that
   * instance left (pinned maps, established flows) rather than starting over.
   */
  start(): Promise<void>;
  /** Stops managing the kernel and leaves the datapath serving (SIGTERM). */
  close(): Promise<void>;
  /** Kernel-side counters for /metrics: per-service packets, drops by reason, conntrack entries. */
  kernelMetrics?(): Record<string, KernelMetric>;
}

export interface DataplaneContext {
  config: ProxyConfig;
  log: Logger;
  /** This node's addresses (for SNAT and NodePorts). */
  nodeAddresses: () => string[];
  /**
   * Every address local to this node, VIPs held here included (kube-vip's /32s): "is this ours?".
   * nodeAddresses when not given.
   */
  localAddresses?: () => string[];
  /**
   * Conntrack lets out-of-window TCP through (nf_conntrack_tcp_be_liberal, conntrack.tcpBeLiberal):
   * iptables and ipvs then keep no ct-INVALID drop, as kube-proxy. Read by the daemon at start.
   */
  conntrackTcpLiberal?: boolean;
}

/** Removes everything a mode of ours created (programs, pins, rules, interfaces); never a user's own state. */
export type Cleaner = (ctx: DataplaneContext) => Promise<string[]>;
