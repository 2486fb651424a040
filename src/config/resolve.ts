import { isIP } from 'node:net';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { isPodInterfaceName } from '../model/node.js';
import { PROXY_MODES } from '../probe/index.js';
import { parseDocuments } from './documents.js';
import { parseDuration } from './duration.js';
import { parseFlags, type ParsedFlags } from './flags.js';
import { checkSchema, KUBE_PROXY_CONFIGURATION } from './schema.js';
import { ConfigError, type ProxyConfig, type RequestedMode } from './types.js';

export const IPVS_SCHEDULERS = ['rr', 'wrr', 'lc', 'wlc', 'lblc', 'lblcr', 'sh', 'dh', 'sed', 'nq', 'mh'];

export const DEFAULTS: ProxyConfig = {
  mode: 'auto',
  kubeconfig: null,
  master: null,
  manifestsDir: null,
  contentType: 'application/vnd.kubernetes.protobuf',
  qps: 5,
  burst: 10,
  hostnameOverride: null,
  clusterCIDRs: [],
  detectLocalMode: '',
  podInterface: null,
  nodePortAddresses: [],
  masqueradeAll: false,
  masqueradeBit: 14,
  healthzBindAddress: '0.0.0.0:10256',
  metricsBindAddress: '127.0.0.1:10249',
  bindAddress: null,
  bindAddressHardFail: false,
  udpIdleTimeoutMs: null,
  syncPeriodMs: 30_000,
  minSyncPeriodMs: 1000,
  ipvsScheduler: 'rr',
  ipvsStrictARP: false,
  ipvsTimeouts: { tcpS: 0, tcpFinS: 0, udpS: 0 },
  conntrack: {
    tcpEstablishedTimeoutMs: 86_400_000, tcpCloseWaitTimeoutMs: 3_600_000, udpTimeoutMs: 30_000,
    udpTimeoutGivenMs: null, udpStreamTimeoutMs: null, tcpBeLiberal: false, setMax: true,
    keepKernelTcpEstablished: false, keepKernelTcpCloseWait: false,
  },
  devices: null,
  bpfPinDir: '/sys/fs/bpf/ebpf-kube-proxy',
  cgroupRoot: null,
  lbAlgorithm: 'random',
  bpfXdp: 'auto',
  bpfSlots: 1 << 20,
  bpfMaxServices: 65_536,
  bpfMaxBackends: 65_536,
  conntrackMax: 131_072,
  oomScoreAdj: -999,
  iptablesLocalhostNodePorts: true,
  cleanup: false,
  initOnly: false,
  writeConfigTo: null,
  featureGates: {},
  logFormat: 'json',
  verbosity: 0,
};

type Doc = Record<string, any>;

const cpus = () => availableParallelism();
/** kube-proxy's int32 fields' limit. */
const INT32_MAX = 2 ** 31 - 1;

function isCidr(s: string): boolean {
  const [ip, bits, ...rest] = s.split('/');
  if (rest.length || !ip || bits === undefined || !/^\d+$/.test(bits)) return false;
  const family = isIP(ip);
  return family !== 0 && Number(bits) <= (family === 4 ? 32 : 128);
}

function isHostPort(s: string): boolean {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(s);
  if (!m) return false;
  const host = m[1] ?? m[2] ?? '';
  const port = Number(m[3]);
  return (host === '' || isIP(host) !== 0) && port >= 0 && port <= 65535;
}

/** Reads and parses a config file: YAML (or JSON), exactly one document. */
function readConfigFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError([`--config ${path}: ${(e as Error).message}`]);
  }
  const docs = parseDocuments(text);
  const errors = docs.flatMap((d) => d.errors.map((e) => `${path}: ${e}`));
  if (errors.length) throw new ConfigError(errors);
  const values = docs.map((d) => d.value).filter((v) => v !== null);
  if (values.length !== 1) throw new ConfigError([`${path}: expected one KubeProxyConfiguration document, found ${values.length}`]);
  return values[0];
}

/** Schema, kind and apiVersion checks; the values themselves are checked while resolving. */
function checkConfigDoc(path: string, doc: unknown): Doc {
  const problems = checkSchema(doc, KUBE_PROXY_CONFIGURATION).map((p) => `${path}: ${p.path}: ${p.message}`);
  const d = doc as Doc;
  if (d?.kind !== undefined && d.kind !== 'KubeProxyConfiguration') problems.push(`${path}: kind: must be KubeProxyConfiguration, got ${JSON.stringify(d.kind)}`);
  if (d?.apiVersion !== undefined && d.apiVersion !== 'kubeproxy.config.k8s.io/v1alpha1') {
    problems.push(`${path}: apiVersion: must be kubeproxy.config.k8s.io/v1alpha1, got ${JSON.stringify(d.apiVersion)}`);
  }
  if (problems.length) throw new ConfigError(problems);
  return d;
}

/**
 * Resolves defaults ← config file ← flags into one validated ProxyConfig.
 * Unlike old kube-proxy, flags given with --config are not ignored: they win.
 * Every problem is reported at once as a ConfigError (the CLI exits 2).
 */
export function resolveConfig(argv: string[], readFile: (p: string) => unknown = readConfigFile): ProxyConfig {
  const flags: ParsedFlags = parseFlags(argv);
  const file: Doc = typeof flags.config === 'string' ? checkConfigDoc(flags.config, readFile(flags.config)) : {};
  const problems: string[] = [];
  const cfg: ProxyConfig = structuredClone(DEFAULTS);
  const src = (flag: string, field: string) => `--${flag} / ${field}`;
  // A value only the file gives, named as the schema's problems are.
  const inFile = (field: string) => `${flags.config as string}: ${field}`;

  // Mode first: it selects which sections' sync periods and masquerade settings apply.
  const modeRaw = (flags['proxy-mode'] as string | undefined) ?? (file.mode as string | undefined) ?? '';
  const mode = modeRaw === '' ? 'auto' : modeRaw;
  if (mode === 'auto' || (PROXY_MODES as readonly string[]).includes(mode)) cfg.mode = mode as RequestedMode;
  else problems.push(`${src('proxy-mode', 'mode')}: must be one of auto, ${PROXY_MODES.join(', ')}; got ${JSON.stringify(modeRaw)}`);
  // As kube-proxy's v1alpha1 conversion: the sync periods are the mode's section's (iptables' for
  // every mode that has none); masquerading is nftables' in nftables mode and iptables' in every
  // other (the ipvs section has no masquerade keys: kube-proxy's ipvs mode takes iptables').
  const periodName = cfg.mode === 'ipvs' ? 'ipvs' : cfg.mode === 'nftables' ? 'nftables' : 'iptables';
  const periods: Doc = file[periodName] ?? {};
  const masqName = cfg.mode === 'nftables' ? 'nftables' : 'iptables';
  const masq: Doc = file[masqName] ?? {};

  const cc: Doc = file.clientConnection ?? {};
  cfg.kubeconfig = (flags.kubeconfig as string | undefined) ?? (cc.kubeconfig || null);
  cfg.master = (flags.master as string | undefined) || null;
  if (cfg.master !== null && !/^https?:\/\/[^/\s]+/.test(cfg.master)) problems.push(`--master: must be the API server's URL (https://host:port), got ${JSON.stringify(cfg.master)}`);
  cfg.manifestsDir = (flags.manifests as string | undefined) ?? (file.ebpf?.manifests || null);
  // --content-type is ours, --kube-api-content-type kube-proxy's: one setting.
  const ctFlag = flags['content-type'] !== undefined ? 'content-type' : 'kube-api-content-type';
  if (flags['content-type'] !== undefined && flags['kube-api-content-type'] !== undefined && flags['content-type'] !== flags['kube-api-content-type']) {
    problems.push('--content-type and --kube-api-content-type are one setting: give one');
  }
  const contentType = (flags[ctFlag] as string | undefined) ?? (cc.contentType || DEFAULTS.contentType);
  if (contentType === 'application/json' || contentType === 'application/vnd.kubernetes.protobuf') cfg.contentType = contentType;
  else problems.push(`${src(ctFlag, 'clientConnection.contentType')}: must be application/vnd.kubernetes.protobuf or application/json, got ${JSON.stringify(contentType)}`);
  // kube-proxy treats 0 as "use the default", as client-go reads it.
  for (const [flag, field] of [['kube-api-qps', 'qps'], ['kube-api-burst', 'burst']] as const) {
    const v = (flags[flag] as number | undefined) ?? (cc[field] as number | null | undefined);
    if (v === undefined || v === null) continue;
    if (v < 0) problems.push(`${src(flag, `clientConnection.${field}`)}: must not be negative, got ${v}`);
    else if (field === 'burst' && v > INT32_MAX) problems.push(`${src(flag, `clientConnection.${field}`)}: must be at most ${INT32_MAX}, got ${v}`);
    else if (v > 0) cfg[field] = v;
  }

  // As kube-proxy's GetHostname: node names are lower case, and a stray space would miss the Node.
  cfg.hostnameOverride = ((flags['hostname-override'] as string | undefined) ?? (file.hostnameOverride || '')).trim().toLowerCase() || null;
  const cidrs = (flags['cluster-cidr'] as string | undefined) ?? (file.clusterCIDR as string | undefined) ?? '';
  cfg.clusterCIDRs = cidrs.split(',').map((s) => s.trim()).filter(Boolean);
  for (const c of cfg.clusterCIDRs) if (!isCidr(c)) problems.push(`${src('cluster-cidr', 'clusterCIDR')}: ${JSON.stringify(c)} is not a CIDR`);
  const detect = (flags['detect-local-mode'] as string | undefined) ?? (file.detectLocalMode as string | undefined) ?? '';
  if (['', 'ClusterCIDR', 'NodeCIDR', 'BridgeInterface', 'InterfaceNamePrefix'].includes(detect)) cfg.detectLocalMode = detect as ProxyConfig['detectLocalMode'];
  else problems.push(`${src('detect-local-mode', 'detectLocalMode')}: must be ClusterCIDR, NodeCIDR, BridgeInterface or InterfaceNamePrefix, got ${JSON.stringify(detect)}`);
  if (cfg.detectLocalMode === 'BridgeInterface' || cfg.detectLocalMode === 'InterfaceNamePrefix') {
    const prefix = cfg.detectLocalMode === 'InterfaceNamePrefix';
    const [flag, field] = prefix ? ['pod-interface-name-prefix', 'interfaceNamePrefix'] : ['pod-bridge-interface', 'bridgeInterface'];
    const name = ((flags[flag as 'pod-bridge-interface'] as string | undefined) ?? file.detectLocal?.[field] ?? '').trim();
    if (name === '') problems.push(`${src(flag, `detectLocal.${field}`)}: must be set when detectLocalMode is ${cfg.detectLocalMode}`);
    else if (!isPodInterfaceName(name, prefix)) problems.push(`${src(flag, `detectLocal.${field}`)}: ${JSON.stringify(name)} is not an interface name${prefix ? ' prefix' : ''}`);
    else cfg.podInterface = { name, prefix };
  }

  cfg.nodePortAddresses = (flags['nodeport-addresses'] as string[] | undefined) ?? (file.nodePortAddresses as string[] | null) ?? [];
  for (const a of cfg.nodePortAddresses) {
    if (a !== 'primary' && !isCidr(a)) problems.push(`${src('nodeport-addresses', 'nodePortAddresses')}: ${JSON.stringify(a)} is neither a CIDR nor "primary"`);
  }
  if (cfg.nodePortAddresses.includes('primary') && cfg.nodePortAddresses.length > 1) {
    problems.push(`${src('nodeport-addresses', 'nodePortAddresses')}: "primary" cannot be combined with CIDRs`);
  }

  cfg.masqueradeAll = (flags['masquerade-all'] as boolean | undefined) ?? masq.masqueradeAll ?? false;
  // The iptables section's own, whatever the mode (null in a dumped config means the default).
  cfg.iptablesLocalhostNodePorts = (flags['iptables-localhost-nodeports'] as boolean | undefined) ?? file.iptables?.localhostNodePorts ?? true;
  // kube-proxy checks iptables' bit in every mode, nftables' in nftables mode; its flag is the
  // iptables section's, so nftables mode does not take it.
  for (const name of new Set(['iptables', masqName])) {
    const fromFlag = name === 'iptables' ? flags['iptables-masquerade-bit'] as number | undefined : undefined;
    const bit = fromFlag ?? file[name]?.masqueradeBit;
    if (bit === undefined || bit === null) continue;
    const where = fromFlag !== undefined ? src('iptables-masquerade-bit', 'iptables.masqueradeBit') : inFile(`${name}.masqueradeBit`);
    if (bit < 0 || bit > 31) problems.push(`${where}: must be 0-31, got ${bit}`);
    else if (name === masqName) cfg.masqueradeBit = bit;
  }

  for (const [flag, field, key, portFlag, defaultPort] of [
    ['healthz-bind-address', 'healthzBindAddress', 'healthzBindAddress', 'healthz-port', 10256],
    ['metrics-bind-address', 'metricsBindAddress', 'metricsBindAddress', 'metrics-port', 10249],
  ] as const) {
    const fromFlag = flags[flag] as string | undefined;
    let v = fromFlag ?? (file[field] || undefined);
    // kube-proxy's deprecated --healthz-port / --metrics-port: 0 turns the server off; another
    // port completes a bind address given as an IP alone on the command line (whose port is
    // otherwise the default), and changes nothing else.
    const port = flags[portFlag] as number | undefined;
    if (port !== undefined && (port < 0 || port > 65535)) {
      problems.push(`--${portFlag}: must be 0-65535, got ${port}`);
      continue;
    }
    if (port === 0) {
      cfg[key] = '';
      continue;
    }
    const host = fromFlag?.replace(/^\[(.*)\]$/, '$1');
    if (host !== undefined && isIP(host) !== 0) v = `${host.includes(':') ? `[${host}]` : host}:${port ?? defaultPort}`;
    if (v === undefined) continue;
    // An empty address:port ("") disables the server, as in kube-proxy.
    if (v === '' || isHostPort(v)) cfg[key] = v;
    else problems.push(`${src(flag, field)}: must be host:port (e.g. 0.0.0.0:10256), got ${JSON.stringify(v)}`);
  }

  const bind = ((flags['bind-address'] as string | undefined) ?? (file.bindAddress || '')).trim();
  if (bind !== '' && !isIP(bind)) problems.push(`${src('bind-address', 'bindAddress')}: must be an IP address, got ${JSON.stringify(bind)}`);
  // 0.0.0.0 and :: (kube-proxy's default) say nothing about the node.
  else if (bind !== '' && !/^(0+\.){3}0+$|^[:0]+$/.test(bind)) cfg.bindAddress = bind.toLowerCase();
  cfg.bindAddressHardFail = (flags['bind-address-hard-fail'] as boolean | undefined) ?? file.bindAddressHardFail ?? false;
  const idle = (flags['udp-timeout'] as string | undefined) ?? file.udpIdleTimeout;
  if (idle !== undefined && idle !== null) {
    const ms = typeof idle === 'number' ? idle : parseDuration(String(idle));
    if (ms === null || ms < 0) problems.push(`${src('udp-timeout', 'udpIdleTimeout')}: ${JSON.stringify(idle)} is not a duration of 0s or more`);
    else if (ms > 0) cfg.udpIdleTimeoutMs = ms; // 0s in a dumped config means "default"
  }

  // As kube-proxy: the iptables flags in every mode but ipvs (auto too, as kube-proxy's default
  // mode, even when it picks ipvs), the ipvs ones in ipvs mode. Both are checked, as flags.
  const periodFlag = cfg.mode === 'ipvs' ? 'ipvs' : 'iptables';
  for (const [field, key, flag] of [['syncPeriod', 'syncPeriodMs', 'sync-period'], ['minSyncPeriod', 'minSyncPeriodMs', 'min-sync-period']] as const) {
    let fromFlag: number | undefined;
    for (const family of ['iptables', 'ipvs'] as const) {
      const name = `${family}-${flag}` as const;
      const raw = flags[name] as string | undefined;
      if (raw === undefined) continue;
      const ms = parseDuration(raw);
      // A flag's 0s is kube-proxy's "every change synced at once" for the minimum; the full resync must be > 0.
      if (ms === null || ms < 0 || (key === 'syncPeriodMs' && ms === 0)) {
        problems.push(`--${name}: ${JSON.stringify(raw)} is not a duration ${key === 'syncPeriodMs' ? 'above 0s' : 'of 0s or more'}`);
      } else if (family === periodFlag) fromFlag = ms;
    }
    if (fromFlag !== undefined) {
      cfg[key] = fromFlag;
      continue;
    }
    const raw = periods[field];
    if (raw === undefined || raw === null) continue;
    // Well-formed, as the schema checked: null is a negative one.
    const ms = typeof raw === 'number' ? raw : parseDuration(raw);
    if (ms === null) problems.push(`${inFile(`${periodName}.${field}`)}: ${JSON.stringify(raw)} is not a duration of 0s or more`);
    else if (ms > 0) cfg[key] = ms; // 0s in a dumped config means "default"
  }
  if (cfg.minSyncPeriodMs > cfg.syncPeriodMs) problems.push(`minSyncPeriod (${cfg.minSyncPeriodMs} ms) must not exceed syncPeriod (${cfg.syncPeriodMs} ms)`);

  const ct: Doc = file.conntrack ?? {};
  for (const [field, key, flag] of [
    ['tcpEstablishedTimeout', 'tcpEstablishedTimeoutMs', 'conntrack-tcp-timeout-established'],
    ['tcpCloseWaitTimeout', 'tcpCloseWaitTimeoutMs', 'conntrack-tcp-timeout-close-wait'],
    ['udpTimeout', 'udpTimeoutMs', 'conntrack-udp-timeout'],
    ['udpStreamTimeout', 'udpStreamTimeoutMs', 'conntrack-udp-timeout-stream'],
  ] as const) {
    const fromFlag = flags[flag] as string | undefined;
    const raw = fromFlag ?? ct[field];
    if (raw === undefined || raw === null) continue;
    // A file's is well-formed, as the schema checked: null is a negative one, which kube-proxy refuses too.
    const ms = parseDuration(String(raw));
    if (ms === null) problems.push(`${fromFlag !== undefined ? src(flag, `conntrack.${field}`) : inFile(`conntrack.${field}`)}: ${JSON.stringify(raw)} is not a duration of 0s or more`);
    else if (ms > 0) {
      cfg.conntrack[key] = ms;
      if (key === 'udpTimeoutMs') cfg.conntrack.udpTimeoutGivenMs = ms;
    } else if (key === 'tcpEstablishedTimeoutMs') cfg.conntrack.keepKernelTcpEstablished = true;
    else if (key === 'tcpCloseWaitTimeoutMs') cfg.conntrack.keepKernelTcpCloseWait = true;
  }
  const liberal = (flags['conntrack-tcp-be-liberal'] as boolean | undefined) ?? ct.tcpBeLiberal;
  if (liberal !== undefined && liberal !== null) cfg.conntrack.tcpBeLiberal = liberal === true;

  const scheduler = (flags['ipvs-scheduler'] as string | undefined) ?? (file.ipvs?.scheduler || 'rr');
  if (IPVS_SCHEDULERS.includes(scheduler)) cfg.ipvsScheduler = scheduler;
  else problems.push(`${src('ipvs-scheduler', 'ipvs.scheduler')}: must be one of ${IPVS_SCHEDULERS.join(', ')}; got ${JSON.stringify(scheduler)}`);
  cfg.ipvsStrictARP = (flags['ipvs-strict-arp'] as boolean | undefined) ?? file.ipvs?.strictARP ?? false;
  // Checked as kube-proxy does, and not needed: no virtual server that is not ours is ever touched.
  for (const c of (flags['ipvs-exclude-cidrs'] as string[] | undefined) ?? (file.ipvs?.excludeCIDRs as string[] | null | undefined) ?? []) {
    if (!isCidr(c)) problems.push(`${src('ipvs-exclude-cidrs', 'ipvs.excludeCIDRs')}: ${JSON.stringify(c)} is not a CIDR`);
  }
  for (const [flag, field, key] of [
    ['ipvs-tcp-timeout', 'tcpTimeout', 'tcpS'], ['ipvs-tcpfin-timeout', 'tcpFinTimeout', 'tcpFinS'], ['ipvs-udp-timeout', 'udpTimeout', 'udpS'],
  ] as const) {
    const raw = (flags[flag] as string | undefined) ?? file.ipvs?.[field];
    if (raw === undefined || raw === null) continue;
    const ms = typeof raw === 'number' ? raw : parseDuration(String(raw));
    if (ms === null || ms < 0) problems.push(`${src(flag, `ipvs.${field}`)}: ${JSON.stringify(raw)} is not a duration of 0s or more`);
    else cfg.ipvsTimeouts[key] = Math.floor(ms / 1000);
  }

  cfg.devices = (flags.devices as string[] | undefined) ?? (file.ebpf?.devices ?? null);
  for (const d of cfg.devices ?? []) if (!/^[A-Za-z0-9_.+-]{1,15}$/.test(d)) problems.push(`--devices: ${JSON.stringify(d)} is not an interface name`);
  cfg.bpfPinDir = (flags['bpf-pin-dir'] as string | undefined) ?? (file.ebpf?.bpfPinDir || DEFAULTS.bpfPinDir);
  if (!cfg.bpfPinDir.startsWith('/')) problems.push(`--bpf-pin-dir: must be an absolute path, got ${JSON.stringify(cfg.bpfPinDir)}`);
  cfg.cgroupRoot = (flags['cgroup-root'] as string | undefined) ?? (file.ebpf?.cgroupRoot || null);
  if (cfg.cgroupRoot !== null && !cfg.cgroupRoot.startsWith('/')) problems.push(`--cgroup-root: must be an absolute path, got ${JSON.stringify(cfg.cgroupRoot)}`);
  const algorithm = (flags['lb-algorithm'] as string | undefined) ?? (file.ebpf?.lbAlgorithm || 'random');
  if (algorithm === 'random' || algorithm === 'maglev') cfg.lbAlgorithm = algorithm;
  else problems.push(`--lb-algorithm / ebpf.lbAlgorithm: must be random or maglev, got ${JSON.stringify(algorithm)}`);
  const xdp = (flags['bpf-xdp'] as string | undefined) ?? (file.ebpf?.xdp || 'auto');
  if (xdp === 'auto' || xdp === 'on' || xdp === 'off') cfg.bpfXdp = xdp;
  else problems.push(`--bpf-xdp / ebpf.xdp: must be auto, on or off, got ${JSON.stringify(xdp)}`);
  const slots = (flags['bpf-slots'] as number | undefined) ?? file.ebpf?.slots ?? DEFAULTS.bpfSlots;
  if (Number.isInteger(slots) && slots >= 1024 && slots <= 1 << 28) cfg.bpfSlots = slots;
  else problems.push(`--bpf-slots / ebpf.slots: must be an integer from 1024 to ${1 << 28}, got ${slots}`);
  for (const [flag, field, key] of [['bpf-max-services', 'maxServices', 'bpfMaxServices'], ['bpf-max-backends', 'maxBackends', 'bpfMaxBackends']] as const) {
    const v = (flags[flag] as number | undefined) ?? file.ebpf?.[field] ?? DEFAULTS[key];
    if (Number.isInteger(v) && v >= 16 && v <= 1 << 22) cfg[key] = v;
    else problems.push(`--${flag} / ebpf.${field}: must be an integer from 16 to ${1 << 22}, got ${v}`);
  }
  const perCore = (flags['conntrack-max-per-core'] as number | undefined) ?? ct.maxPerCore ?? 32_768;
  const min = (flags['conntrack-min'] as number | undefined) ?? ct.min ?? 131_072;
  let sizesOk = true;
  for (const [flag, field, v] of [['conntrack-max-per-core', 'maxPerCore', perCore], ['conntrack-min', 'min', min]] as const) {
    if (Number.isInteger(v) && v >= 0 && v <= INT32_MAX) continue;
    problems.push(`${src(flag, `conntrack.${field}`)}: must be an integer from 0 to ${INT32_MAX}, got ${v}`);
    sizesOk = false;
  }
  if (sizesOk) {
    cfg.conntrackMax = Math.min(Math.max(min, perCore * cpus()), 1 << 24);
    cfg.conntrack.setMax = perCore > 0;
  }
  // kube-proxy's: the OOM killer takes the node's proxy last (null in a dumped config means the default).
  const oom = (flags['oom-score-adj'] as number | undefined) ?? file.oomScoreAdj ?? DEFAULTS.oomScoreAdj;
  if (Number.isInteger(oom) && oom >= -1000 && oom <= 1000) cfg.oomScoreAdj = oom;
  else problems.push(`--oom-score-adj / oomScoreAdj: must be an integer from -1000 to 1000, got ${oom}`);
  cfg.cleanup = (flags.cleanup as boolean | undefined) ?? false;
  cfg.initOnly = (flags['init-only'] as boolean | undefined) ?? false;
  cfg.writeConfigTo = (flags['write-config-to'] as string | undefined) || null; // "" is kube-proxy's unset

  // Settings kube-proxy acts on and we do not (unhonouredFlags names them at start), checked as it does.
  const configSync = (flags['config-sync-period'] as string | undefined) ?? file.configSyncPeriod;
  if (configSync !== undefined && configSync !== null) {
    const ms = parseDuration(String(configSync));
    // The file's 0s is the default (15m), as kube-proxy's defaulting reads it; a flag's is refused.
    if (ms === null || (ms === 0 && flags['config-sync-period'] !== undefined)) {
      problems.push(`${src('config-sync-period', 'configSyncPeriod')}: ${JSON.stringify(configSync)} is not a duration above 0s`);
    }
  }
  const hidden = (flags['show-hidden-metrics-for-version'] as string | undefined) ?? file.showHiddenMetricsForVersion ?? '';
  if (hidden !== '' && !/^(0|[1-9]\d*)\.(0|[1-9]\d*)$/.test(hidden)) {
    problems.push(`${src('show-hidden-metrics-for-version', 'showHiddenMetricsForVersion')}: must be <major>.<minor> (e.g. 1.34), got ${JSON.stringify(hidden)}`);
  }

  const fileGates = (file.featureGates ?? {}) as Record<string, boolean>;
  const flagGates = (flags['feature-gates'] ?? {}) as Record<string, boolean>;
  // kube-proxy ignores --feature-gates beside --config; here flags win, gate by gate. Names are
  // checked at start, for a warning (unhonouredFeatureGates): another version's may differ.
  cfg.featureGates = { ...fileGates, ...flagGates };

  const format = (flags['logging-format'] as string | undefined) ?? file.logging?.format ?? 'json';
  if (format === 'json' || format === 'text') cfg.logFormat = format;
  else problems.push(`--logging-format: must be json or text, got ${JSON.stringify(format)}`);
  cfg.verbosity = (flags.v as number | undefined) ?? file.logging?.verbosity ?? 0;
  const flush = flags['log-flush-frequency'] as string | undefined;
  if (flush !== undefined && parseDuration(flush) === null) problems.push(`--log-flush-frequency: ${JSON.stringify(flush)} is not a duration of 0s or more`);
  const vmodule = flags.vmodule as string | undefined;
  if (vmodule !== undefined && vmodule.split(',').some((p) => p !== '' && !/^[^=,]+=\d+$/.test(p))) {
    problems.push(`--vmodule: takes pattern=N,…, got ${JSON.stringify(vmodule)}`);
  }
  for (const flag of ['log-text-info-buffer-size', 'log-json-info-buffer-size'] as const) {
    const size = flags[flag] as string | undefined;
    // A resource.Quantity: 512, 1k, 2Ki, 3M, 1e3.
    if (size !== undefined && !/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+|[KMGTPE]i|[numkMGTPE])?$/i.test(size)) {
      problems.push(`--${flag}: must be a quantity such as 512, 2Ki or 3M, got ${JSON.stringify(size)}`);
    }
  }

  if (cfg.kubeconfig !== null && cfg.manifestsDir !== null) problems.push('--kubeconfig and --manifests are two different sources: give one');

  if (problems.length) throw new ConfigError(problems);
  return cfg;
}
