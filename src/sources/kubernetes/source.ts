// The Kubernetes API server as a Source: one ResourceWatcher each for Services,
// EndpointSlices and this node's Node, with kube-proxy's selectors.

import { KubeConfig } from '@kubernetes/client-node';
import { OBJECT_KINDS, type ObjectKind, type Source, type SourceSink } from '../types.js';
import { ExponentialBackoff } from './backoff.js';
import { systemClock } from './clock.js';
import type { HttpTransportOptions } from './http-transport.js';
import { createJsonTransport } from './json-transport.js';
import { createProtobufTransport, type ProtobufTransportOptions } from './protobuf-transport.js';
import { resourcesFor } from './resources.js';
import { ResourceWatcher } from './resource-watcher.js';
import type { Backoff, BackoffOptions, Clock, Logger, Transport } from './types.js';

export interface KubernetesSourceOptions {
  /** Path of a kubeconfig file; without one, the in-cluster service account is used. */
  kubeconfig?: string;
  /** The API server's URL over the kubeconfig's (kube-proxy's --master). */
  master?: string;
  /** This node's name: its Node object is watched (and only it). */
  nodeName: string;
  clock?: Clock;
  /** Tunes the default backoff (100 ms doubling to 30 s, ±20 % jitter, reset after 60 s up). */
  backoff?: Partial<BackoffOptions>;
  /** Replaces the backoff entirely; called once per watched kind. */
  newBackoff?: () => Backoff;
  /** timeoutSeconds for each watch; default, like client-go, a random 5–10 min so watches do not expire together. */
  watchTimeoutSeconds?: () => number;
  /**
   * Encoding asked of the API server (kube-proxy's clientConnection.contentType). Protobuf by
   * default, as kube-proxy; a response the server sends as JSON anyway is still understood.
   */
  contentType?: ContentType;
  /** Requests per second to the API server, token bucket (clientConnection.qps); default 5, ≤ 0 for no limit. */
  qps?: number;
  /** Requests allowed in a burst above qps (clientConnection.burst); default 10. */
  burst?: number;
  /** Wire options (page size, timeouts, frame limit) for the transport `contentType` selects. */
  wire?: ProtobufTransportOptions;
  /** @deprecated the same as `wire`, from when JSON was the only wire. */
  json?: HttpTransportOptions;
  /** Replaces the wire entirely (a test double); `kubeconfig`, `contentType`, `qps`, `burst` and `wire` are then unused. */
  transport?: Transport;
  log?: Logger;
}

export type ContentType = 'application/vnd.kubernetes.protobuf' | 'application/json';

/** kube-proxy's clientConnection defaults. */
export const DEFAULT_CONTENT_TYPE: ContentType = 'application/vnd.kubernetes.protobuf';
export const DEFAULT_QPS = 5;
export const DEFAULT_BURST = 10;

const noLog: Logger = () => {};

/** The transport for a source's options: one per source, so its watchers share one rate limit, as client-go's clientset does. */
export function createTransport(kc: KubeConfig, opts: Pick<KubernetesSourceOptions, 'contentType' | 'qps' | 'burst' | 'wire' | 'json'>): Transport {
  const wire: ProtobufTransportOptions = { ...opts.json, ...opts.wire, qps: opts.qps ?? DEFAULT_QPS, burst: opts.burst ?? DEFAULT_BURST };
  const contentType = opts.contentType ?? DEFAULT_CONTENT_TYPE;
  switch (contentType) {
    case 'application/vnd.kubernetes.protobuf':
      return createProtobufTransport(kc, wire);
    case 'application/json':
      return createJsonTransport(kc, wire);
    default:
      throw new Error(`unsupported contentType ${JSON.stringify(contentType)}: want application/vnd.kubernetes.protobuf or application/json`);
  }
}

/**
 * Loads a kubeconfig file, or the in-cluster configuration, failing with a message that says
 * which; `master` (kube-proxy's --master) replaces its current cluster's server, as client-go's
 * BuildConfigFromFlags does (kops gives both).
 */
export function loadKubeConfig(path?: string, master?: string): KubeConfig {
  const kc = new KubeConfig();
  if (path) {
    try {
      kc.loadFromFile(path);
    } catch (err) {
      throw new Error(`cannot load kubeconfig ${path}: ${(err as Error).message}`);
    }
  } else {
    if (!process.env.KUBERNETES_SERVICE_HOST || !process.env.KUBERNETES_SERVICE_PORT) {
      throw new Error('no kubeconfig given and not running in a cluster (KUBERNETES_SERVICE_HOST/PORT unset)');
    }
    kc.loadFromCluster();
  }
  const current = kc.getCurrentCluster();
  if (!current) throw new Error(`kubeconfig ${path ?? '(in-cluster)'} has no current cluster`);
  if (master) {
    const over = new KubeConfig();
    over.loadFromOptions({
      clusters: kc.clusters.map((c) => (c.name === current.name ? { ...c, server: master } : c)),
      users: kc.users,
      contexts: kc.contexts,
      currentContext: kc.getCurrentContext(),
    });
    return over;
  }
  return kc;
}

export function createKubernetesSource(opts: KubernetesSourceOptions): Source {
  const resources = resourcesFor(opts.nodeName);
  const clock = opts.clock ?? systemClock;
  const log = opts.log ?? noLog;
  const backoffOptions: Partial<BackoffOptions> = opts.backoff ?? {};
  const newBackoff = opts.newBackoff ?? (() => new ExponentialBackoff(backoffOptions));
  const healthyAfterMs = backoffOptions.resetAfterMs ?? 60_000;
  const watchTimeoutSeconds = opts.watchTimeoutSeconds ?? (() => Math.floor(300 + Math.random() * 300));
  let watchers: ResourceWatcher[] = [];

  return {
    /** Resolves once the watchers run, not once they have synced: sink.synced() says that. */
    async start(sink: SourceSink): Promise<void> {
      if (watchers.length > 0) throw new Error('Kubernetes source already started');
      const transport = opts.transport ?? createTransport(loadKubeConfig(opts.kubeconfig, opts.master), opts);
      watchers = OBJECT_KINDS.map(
        (kind: ObjectKind) =>
          new ResourceWatcher({
            resource: resources[kind],
            transport,
            clock,
            backoff: newBackoff(),
            healthyAfterMs,
            watchTimeoutSeconds,
            log,
            handler: {
              changed: (change) => sink.changed(change),
              synced: () => sink.synced(kind),
              problem: (message) => sink.problem(kind, message),
            },
          }),
      );
      for (const w of watchers) w.start();
      log('info', 'watching the API server', { node: opts.nodeName, contentType: opts.transport ? 'custom' : (opts.contentType ?? DEFAULT_CONTENT_TYPE) });
    },

    /** Idempotent; a stopped source may be started again, and lists afresh. */
    async stop(): Promise<void> {
      const running = watchers;
      watchers = [];
      await Promise.all(running.map((w) => w.stop()));
    },
  };
}
