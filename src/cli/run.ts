import { writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { ConfigError, deprecatedFlags, podRanges, preferSameNode, resolveConfig, unhonouredFeatureGates, unhonouredFlags, type ProxyConfig } from '../config/index.js';
import { ConntrackSetup, tcpBeLiberal } from '../dataplane/conntrack-sysctls.js';
import { cleanupAll, cleanupOtherModes, createDataplane, type Dataplane, type DataplaneContext } from '../dataplane/index.js';
import { nodeContextFromNode, parseNode, withPrimaryAddress, type DesiredState, type NodeContext } from '../model/index.js';
import { LinkWatch } from '../native/index.js';
import {
  Collected, CollectedHistogram, createLogger, HealthCheckServers, healthRoutes, HealthState, HttpServers, nodeEligible, proxyMetrics, setNoLocalEndpoints, syncObserver, type HealthCheckService, type Logger,
} from '../observe/index.js';
import { checkMode, decideMode, probeFeatures, realProbeEnv, requiredFeatures, type ProxyMode } from '../probe/index.js';
import type { Source } from '../sources/types.js';
import { SyncLoop } from '../tracker/index.js';
import { interfaceAddresses, localAddresses } from './node-addresses.js';

/** healthCheckNodePort → service, for every eTP=Local Service that has one. */
function healthCheckPorts(state: DesiredState): Map<number, HealthCheckService> {
  const out = new Map<number, HealthCheckService>();
  for (const s of state.services.values()) {
    if (!s.healthCheckNodePort || !s.externalPolicyLocal) continue;
    const prev = out.get(s.healthCheckNodePort);
    // One Service, several ports or families: the node serves it if any has local endpoints.
    out.set(s.healthCheckNodePort, {
      namespace: s.name.namespace, name: s.name.name,
      localEndpoints: Math.max(prev?.localEndpoints ?? 0, s.localReadyEndpoints),
    });
  }
  return out;
}

/** The modes that NAT through netfilter, whose conntrack table kube-proxy sizes and times. */
const NETFILTER_MODES: ReadonlySet<ProxyMode> = new Set(['iptables', 'nftables', 'ipvs']);

function chooseMode(cfg: ProxyConfig, log: Logger): ProxyMode {
  if (cfg.mode === 'auto') {
    const d = decideMode(probeFeatures(realProbeEnv));
    log.info('proxy mode chosen', { mode: d.mode, reasons: d.reasons });
    return d.mode;
  }
  const why = checkMode(probeFeatures(realProbeEnv, requiredFeatures(cfg.mode)), cfg.mode);
  if (why !== null) throw new Error(`proxy mode ${cfg.mode} cannot run on this machine: ${why}`);
  return cfg.mode;
}

async function createSource(cfg: ProxyConfig, nodeName: string, log: Logger): Promise<Source> {
  if (cfg.manifestsDir !== null) {
    const { ManifestSource } = await import('../sources/manifests/index.js');
    return new ManifestSource({ dir: cfg.manifestsDir });
  }
  const { createKubernetesSource } = await import('../sources/kubernetes/index.js');
  return createKubernetesSource({
    ...(cfg.kubeconfig !== null ? { kubeconfig: cfg.kubeconfig } : {}),
    ...(cfg.master !== null ? { master: cfg.master } : {}),
    nodeName,
    contentType: cfg.contentType,
    qps: cfg.qps,
    burst: cfg.burst,
    log: (level: 'debug' | 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => log[level](msg, fields),
  });
}

/**
 * `ebpf-kube-proxy run`: config → source → sync loop → dataplane, with
 * kube-proxy's health and metrics servers. SIGTERM stops us and leaves the
 * datapath serving; --cleanup removes what every mode of ours created.
 */
export async function runDaemon(argv: string[]): Promise<number> {
  let cfg: ProxyConfig;
  try {
    cfg = resolveConfig(argv);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    process.stderr.write(`ebpf-kube-proxy run: invalid configuration:\n${e.problems.map((p) => `  ${p}`).join('\n')}\n`);
    return 2;
  }
  const log = createLogger({ format: cfg.logFormat, verbosity: cfg.verbosity });
  for (const g of unhonouredFeatureGates(cfg.featureGates)) log.warn('feature gate not honoured', g);
  for (const f of unhonouredFlags(argv)) log.warn('flag not honoured', f);
  for (const f of deprecatedFlags(argv)) log.warn('flag deprecated (as in kube-proxy)', f);
  // kube-proxy writes its configuration and exits: a replacement that ran the proxy instead would
  // touch the kernel of whoever only asked for a file.
  if (cfg.writeConfigTo !== null) {
    log.error('--write-config-to is not supported: no configuration written; write the KubeProxyConfiguration for --config by hand', { path: cfg.writeConfigTo });
    return 1;
  }
  const nodeName = cfg.hostnameOverride ?? hostname().trim().toLowerCase();
  const ctx: DataplaneContext = { config: cfg, log, nodeAddresses: () => interfaceAddresses(cfg.devices), localAddresses: () => localAddresses() };
  // Host addresses (/32, /128) are left out of the default, mostly VIPs; CIDRs given in
  // --nodeport-addresses choose among all, as kube-proxy's.
  const byCidr = cfg.nodePortAddresses.length > 0 && !cfg.nodePortAddresses.includes('primary');
  const nodePortCandidates = () => (byCidr ? interfaceAddresses(cfg.devices, undefined, { hostAddresses: true }) : ctx.nodeAddresses());

  if (cfg.cleanup) {
    const removed = await cleanupAll(ctx);
    log.info('cleanup done', { removed });
    return 0;
  }
  if (cfg.initOnly) return 0; // its warning said why
  setOomScoreAdj(cfg.oomScoreAdj, log);

  let dataplane: Dataplane;
  let conntrack: ConntrackSetup | null = null;
  try {
    const mode = chooseMode(cfg, log);
    // A relay sees addresses, never the interface a connection came in on.
    if (mode === 'userspace' && cfg.podInterface) {
      log.warn(`detectLocalMode ${cfg.detectLocalMode} is not supported in userspace mode: pods are told by clusterCIDR, else by the Node's podCIDRs`, {});
    }
    if (NETFILTER_MODES.has(mode)) {
      // Before the first rules: iptables and ipvs render their INVALID drop by it.
      conntrack = new ConntrackSetup(cfg, log);
      conntrack.apply();
      ctx.conntrackTcpLiberal = tcpBeLiberal(cfg);
    }
    const removed = await cleanupOtherModes(mode, ctx);
    if (removed.length) log.info('removed what another mode left', { removed });
    dataplane = await createDataplane(mode, ctx);
    await dataplane.start();
  } catch (e) {
    log.error('cannot start the dataplane', { error: (e as Error).message });
    return 1;
  }

  const metrics = proxyMetrics();
  // One read of the kernel's counters per scrape, shared by all of its metrics. Never an older
  // read: a scrape right after traffic must count it.
  let kernel: ReturnType<NonNullable<Dataplane['kernelMetrics']>> = {};
  metrics.registry.onScrape(() => {
    kernel = dataplane.kernelMetrics?.() ?? {};
  });
  for (const [name, m] of Object.entries(dataplane.kernelMetrics?.() ?? {})) {
    metrics.registry.register(m.type === 'histogram'
      ? new CollectedHistogram(name, m.help, m.buckets, () => {
        const now = kernel[name];
        return now?.type === 'histogram' ? now.samples : [];
      })
      : new Collected(name, m.help, m.type, () => kernel[name]?.samples ?? []));
  }
  const health = new HealthState(2 * cfg.syncPeriodMs);
  const healthChecks = new HealthCheckServers(() => health.healthy(), '0.0.0.0', (port, e) => log.warn('cannot serve healthCheckNodePort', { port, error: e.message }));
  let nodeSaid: unknown = null;
  let bindSaid = false;
  let nodeSeen = false;
  const nodeContext = (node: unknown | null): NodeContext => {
    // Every Node change makes a sync, which asks for the context: eligibility follows it there.
    if (node !== null) nodeSeen = true;
    health.nodeEligible = node !== null ? nodeEligible(node) : !nodeSeen; // deleted: as kube-proxy, not eligible
    const parsed = node !== null ? parseNode(node) : null;
    // Said once per Node object: this runs every sync.
    if (parsed && node !== nodeSaid) {
      nodeSaid = node;
      for (const p of parsed.problems) log.warn(parsed.ok ? 'Node field ignored' : 'Node object unusable: using the interfaces\' addresses and the host name', { object: p.object, field: p.field, problem: p.message });
    }
    const pods = podRanges(cfg);
    const podInterface = cfg.podInterface ? { podInterface: cfg.podInterface } : {};
    const sameNode = preferSameNode(cfg);
    const ctx: NodeContext = parsed?.ok
      ? nodeContextFromNode(parsed.value, {
        localAddresses: nodePortCandidates(),
        ...(cfg.nodePortAddresses.length ? { nodePortAddresses: cfg.nodePortAddresses } : {}),
        ...(pods ? { clusterCIDRs: pods } : {}),
        ...podInterface,
        masqueradeAll: cfg.masqueradeAll,
        preferSameNode: sameNode,
      })
      : { nodeName, nodeAddresses: nodePortCandidates(), nodePortAddresses: cfg.nodePortAddresses, clusterCIDRs: pods ?? [], ...podInterface, masqueradeAll: cfg.masqueradeAll, preferSameNode: sameNode };
    const primary = withPrimaryAddress(ctx, cfg.bindAddress);
    if (cfg.bindAddress && primary === ctx && !bindSaid) {
      bindSaid = true;
      log.warn('bindAddress is none of this node\'s addresses: not used as its primary one', { bindAddress: cfg.bindAddress, nodeAddresses: ctx.nodeAddresses });
    }
    return primary;
  };

  const loop = new SyncLoop({
    consumer: {
      async apply(update) {
        await dataplane.apply(update);
        setNoLocalEndpoints(metrics, update.state);
        // Once more if nf_conntrack was not loaded at start: our rules have loaded it now.
        conntrack?.apply();
        await healthChecks.sync(healthCheckPorts(update.state));
      },
    },
    nodeContext,
    nodeName,
    minSyncPeriodMs: cfg.minSyncPeriodMs,
    syncPeriodMs: cfg.syncPeriodMs,
    observer: syncObserver(metrics, health, log),
  });

  const servers = new HttpServers(cfg.bindAddressHardFail, log);
  const serving = await servers.serve('health', cfg.healthzBindAddress, healthRoutes(health, { healthz: metrics.healthzTotal, livez: metrics.livezTotal }))
    && await servers.serve('metrics', cfg.metricsBindAddress, {
      '/metrics': (_req, res) => res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(metrics.registry.render()),
      '/healthz': (_req, res) => res.writeHead(200).end('ok'),
      '/proxyMode': (_req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end(dataplane.mode),
      '/configz': (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(cfg, null, 2)),
    });
  if (!serving) {
    servers.close();
    await healthChecks.close();
    await dataplane.close();
    return 1;
  }

  // Where NodePorts are served follows the interfaces' addresses, which no API object announces:
  // one that comes or goes is seen within a second, not at the next periodic sync.
  let addressWatch: LinkWatch | null = null;
  try {
    addressWatch = LinkWatch.open({ links: false });
  } catch (e) {
    log.warn('no address watch: NodePorts follow address changes at the periodic sync', { error: (e as Error).message });
  }
  const addressTimer = setInterval(() => {
    try {
      if (addressWatch?.changed()) loop.nodeMayHaveChanged();
    } catch (e) {
      log.warn('address watch failed', { error: (e as Error).message });
      loop.nodeMayHaveChanged();
    }
  }, 1000);
  addressTimer.unref();

  const source = await createSource(cfg, nodeName, log);
  await source.start({
    changed: (c) => loop.changed(c),
    synced: (k) => loop.synced(k),
    problem: (kind, message) => log.warn('source problem', { kind, message }),
  });
  log.info('running', { mode: dataplane.mode, node: nodeName, source: cfg.manifestsDir ?? cfg.kubeconfig ?? 'in-cluster' });

  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log.info('stopping; the datapath keeps serving', { signal });
      resolve();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  clearInterval(addressTimer);
  addressWatch?.close();
  await source.stop();
  await loop.stop();
  await healthChecks.close();
  servers.close();
  await dataplane.close();
  return 0;
}

/** As kube-proxy: lowering it needs CAP_SYS_RESOURCE, which a restricted container may lack; it goes on. */
function setOomScoreAdj(value: number, log: Logger): void {
  try {
    writeFileSync('/proc/self/oom_score_adj', `${value}\n`);
  } catch (e) {
    log.warn('cannot set oom_score_adj', { oomScoreAdj: value, error: (e as Error).message });
  }
}
