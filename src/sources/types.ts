// The contract between a source of Kubernetes objects (the API server, a
// directory of manifests) and the control plane. Objects stay raw JSON here:
// validating and interpreting them is the model's job.

export type ObjectKind = 'Service' | 'EndpointSlice' | 'Node' | 'ServiceCIDR';

export const OBJECT_KINDS: readonly ObjectKind[] = ['Service', 'EndpointSlice', 'Node', 'ServiceCIDR'];

/**
 * One object's change, informer-style: previous and current state, null for
 * absent. A source reports only real changes: a relist after 410 Gone or a
 * reconnect diffs against what it had and reports the difference, so datapath
 * state that is still right is not disturbed.
 */
export interface ObjectChange {
  kind: ObjectKind;
  /** namespace/name, or name for cluster-scoped objects (Node, ServiceCIDR). */
  key: string;
  previous: unknown | null;
  current: unknown | null;
}

export interface SourceSink {
  changed(change: ObjectChange): void;
  /** The initial list of `kind` is complete (sent once per kind per source). */
  synced(kind: ObjectKind): void;
  /** Something went wrong that the source is handling (reconnecting, relisting); for logs and metrics. */
  problem(kind: ObjectKind | null, message: string): void;
}

export interface Source {
  start(sink: SourceSink): Promise<void>;
  stop(): Promise<void>;
}
