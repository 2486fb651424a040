import type { DesiredState } from '../model/index.js';
import type { SyncObserver, SyncReport } from '../tracker/index.js';
import type { HealthState } from './health.js';
import type { Logger } from './log.js';
import { Counter, Gauge, Histogram, PROGRAMMING_BUCKETS, Registry, SYNC_BUCKETS } from './metrics.js';

/** kube-proxy's metric names (kubeproxy_*) so existing dashboards keep working, plus ours (ekp_*). */
export function proxyMetrics(registry = new Registry()) {
  const r = registry;
  return {
    registry: r,
    syncDuration: r.register(new Histogram('kubeproxy_sync_proxy_rules_duration_seconds', 'SyncProxyRules latency in seconds', SYNC_BUCKETS)),
    syncFullDuration: r.register(new Histogram('kubeproxy_sync_full_proxy_rules_duration_seconds', 'SyncProxyRules latency in seconds for full resyncs', SYNC_BUCKETS)),
    syncPartialDuration: r.register(new Histogram('kubeproxy_sync_partial_proxy_rules_duration_seconds', 'SyncProxyRules latency in seconds for partial resyncs', SYNC_BUCKETS)),
    programmingDuration: r.register(new Histogram('kubeproxy_network_programming_duration_seconds', 'In Cluster Network Programming Latency in seconds', PROGRAMMING_BUCKETS)),
    lastSync: r.register(new Gauge('kubeproxy_sync_proxy_rules_last_timestamp_seconds', 'The last time proxy rules were successfully synced')),
    lastQueued: r.register(new Gauge('kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds', 'The last time a sync of proxy rules was queued')),
    endpointChangesPending: r.register(new Gauge('kubeproxy_sync_proxy_rules_endpoint_changes_pending', 'Pending proxy rules Endpoint changes')),
    endpointChangesTotal: r.register(new Counter('kubeproxy_sync_proxy_rules_endpoint_changes_total', 'Cumulative proxy rules Endpoint changes')),
    serviceChangesPending: r.register(new Gauge('kubeproxy_sync_proxy_rules_service_changes_pending', 'Pending proxy rules Service changes')),
    serviceChangesTotal: r.register(new Counter('kubeproxy_sync_proxy_rules_service_changes_total', 'Cumulative proxy rules Service changes')),
    healthzTotal: r.register(new Counter('kubeproxy_proxy_healthz_total', 'Cumulative proxy healthz HTTP status')),
    livezTotal: r.register(new Counter('kubeproxy_proxy_livez_total', 'Cumulative proxy livez HTTP status')),
    noLocalEndpoints: r.register(new Gauge('kubeproxy_sync_proxy_rules_no_local_endpoints_total', 'Number of services with a Local traffic policy and no endpoints')),
    syncFailures: r.register(new Counter('ekp_sync_failures_total', 'Syncs whose dataplane apply failed (the next sync is full)')),
    servicePorts: r.register(new Gauge('ekp_service_ports', 'Service ports in the desired state')),
  };
}

export type ProxyMetrics = ReturnType<typeof proxyMetrics>;

/**
 * kube-proxy's no_local_endpoints gauge, by traffic policy: service ports with a Local policy whose
 * traffic is dropped, as they have endpoints but none on this node.
 */
export function setNoLocalEndpoints(m: ProxyMetrics, state: DesiredState): void {
  let internal = 0;
  let external = 0;
  for (const s of state.services.values()) {
    if (s.internalPolicyLocal && s.internalBackends.dropWhenEmpty) internal++;
    if (s.externallyAccessible && s.externalPolicyLocal && s.externalBackends.dropWhenEmpty) external++;
  }
  m.noLocalEndpoints.set(internal, { traffic_policy: 'internal' });
  m.noLocalEndpoints.set(external, { traffic_policy: 'external' });
}

/** Turns the sync loop's reports into metrics, health and log lines. */
export function syncObserver(m: ProxyMetrics, health: HealthState, log: Logger, now: () => number = Date.now): SyncObserver {
  return {
    queued(kind, pending) {
      health.queued();
      m.lastQueued.set(now() / 1000);
      // Pending: objects, as kube-proxy's trackers count them; total: every change.
      m.endpointChangesPending.set(pending.endpoints);
      m.serviceChangesPending.set(pending.service);
      (kind === 'endpoints' ? m.endpointChangesTotal : m.serviceChangesTotal).inc();
    },
    synced(r: SyncReport) {
      const seconds = r.durationMs / 1000;
      m.syncDuration.observe(seconds);
      (r.full ? m.syncFullDuration : m.syncPartialDuration).observe(seconds);
      m.servicePorts.set(r.servicePorts);
      // Objects whose change is not in the kernel: those that changed while it ran, as kube-proxy
      // counts them, and a failed sync's own, which kube-proxy stops counting once a sync took them.
      m.endpointChangesPending.set(r.pending.endpoints);
      m.serviceChangesPending.set(r.pending.service);
      if (r.error) {
        m.syncFailures.inc();
        log.error('sync failed; the next sync is full', { full: r.full, error: r.error.message });
        return;
      }
      m.lastSync.set(now() / 1000);
      health.updated();
      for (const t of r.triggerTimesMs) m.programmingDuration.observe(Math.max(0, now() - t) / 1000);
      log.debug('synced', { full: r.full, ms: Math.round(r.durationMs * 100) / 100, changed: r.changedServicePorts, servicePorts: r.servicePorts });
    },
    skipped(object, reason) {
      log.warn('skipping', { object, reason });
    },
  };
}
