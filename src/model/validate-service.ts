// unknown → validated v1 Service. A bad value drops the smallest unit holding it (one port, one
// external IP, one ingress entry) with a Problem; only an unusable object as a whole fails.

import { parseIP } from './ip.js';
import {
  DEFAULT_AFFINITY_TIMEOUT_SECONDS,
  MAX_AFFINITY_TIMEOUT_SECONDS,
  type LoadBalancerIngress,
  type LoadBalancerIPMode,
  type Protocol,
  type Service,
  type ServicePortSpec,
  type ServiceSpec,
  type ServiceType,
  type SessionAffinityType,
  type TrafficPolicy,
} from './k8s.js';
import {
  describe,
  guarded,
  isDNSLabel,
  isIANASvcName,
  isRecord,
  isUnset,
  own,
  readArray,
  readCIDR,
  readEnum,
  readInt,
  readIP,
  readMetadata,
  readObject,
  readPort,
  type Json,
  type ParseResult,
  type Problems,
} from './problem.js';

export interface PortRange {
  readonly min: number;
  readonly max: number;
}

export interface ParseServiceOptions {
  /**
   * The API server's --service-node-port-range. Defaults to the whole port space: the range is a
   * cluster setting we cannot see, and rejecting a legitimately allocated nodePort would break it.
   */
  readonly nodePortRange?: PortRange;
}

const SERVICE_TYPES: readonly ServiceType[] = ['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName'];
const PROTOCOLS: readonly Protocol[] = ['TCP', 'UDP', 'SCTP'];
const POLICIES: readonly TrafficPolicy[] = ['Cluster', 'Local'];
const AFFINITIES: readonly SessionAffinityType[] = ['None', 'ClientIP'];
const IP_MODES: readonly LoadBalancerIPMode[] = ['VIP', 'Proxy'];

export function parseService(obj: unknown, options: ParseServiceOptions = {}): ParseResult<Service> {
  return guarded('Service', () => parseServiceUnguarded(obj, options));
}

function parseServiceUnguarded(obj: unknown, options: ParseServiceOptions): ParseResult<Service> {
  const m = readMetadata('Service', obj, true);
  if (!m.ok) return m;
  const p = m.read.problems;
  const spec = own(m.obj, 'spec');
  if (!isRecord(spec)) {
    p.add('spec', `must be an object, got ${describe(spec)}`);
    return { ok: false, problems: p.list };
  }
  let type: ServiceType = 'ClusterIP';
  const rawType = own(spec, 'type');
  if (!isUnset(rawType)) {
    // The type decides every other rule, so an unknown one leaves nothing we could program safely.
    const t = readEnum(rawType, SERVICE_TYPES, 'spec.type', p);
    if (t === undefined) return { ok: false, problems: p.list };
    type = t;
  }

  const { clusterIP, clusterIPs } = readClusterIPs(spec, p);
  const ports = readPorts(own(spec, 'ports'), type, options.nodePortRange ?? { min: 1, max: 65535 }, p);
  const externalIPs = readIPList(own(spec, 'externalIPs'), 'spec.externalIPs', p);

  const rawRanges = readArray(own(spec, 'loadBalancerSourceRanges'), 'spec.loadBalancerSourceRanges', p);
  const loadBalancerSourceRanges = readCIDRList(rawRanges, 'spec.loadBalancerSourceRanges', p);

  const sessionAffinity = readWithDefault(own(spec, 'sessionAffinity'), 'None', AFFINITIES, 'spec.sessionAffinity', p);
  const externalTrafficPolicy = readWithDefault(own(spec, 'externalTrafficPolicy'), 'Cluster', POLICIES, 'spec.externalTrafficPolicy', p);
  const internalTrafficPolicy = readWithDefault(own(spec, 'internalTrafficPolicy'), 'Cluster', POLICIES, 'spec.internalTrafficPolicy', p);

  let sessionAffinityConfig: ServiceSpec['sessionAffinityConfig'];
  if (sessionAffinity === 'ClientIP') {
    sessionAffinityConfig = { clientIP: { timeoutSeconds: readAffinityTimeout(spec, p) } };
  }

  let healthCheckNodePort: number | undefined;
  // kube-proxy only serves a health check for LoadBalancer + eTP Local (apiservice.NeedsHealthCheck);
  // anywhere else the field is ignored.
  if (type === 'LoadBalancer' && externalTrafficPolicy === 'Local') {
    const raw = own(spec, 'healthCheckNodePort');
    if (isUnset(raw) || raw === 0) {
      p.add('spec.healthCheckNodePort', 'must be set for a LoadBalancer with externalTrafficPolicy Local');
    } else {
      healthCheckNodePort = readPort(raw, 'spec.healthCheckNodePort', p);
    }
  }

  let trafficDistribution: string | undefined;
  const rawTD = own(spec, 'trafficDistribution');
  if (!isUnset(rawTD)) {
    if (typeof rawTD === 'string' && rawTD.length > 0 && rawTD.length <= 63) trafficDistribution = rawTD;
    else p.add('spec.trafficDistribution', `must be a non-empty string, got ${describe(rawTD)}`);
  }

  let ingress = readIngress(own(m.obj, 'status'), p);
  if (rawRanges.length > 0 && loadBalancerSourceRanges.length === 0 && ingress.length > 0) {
    // An empty list means "allow everyone", so dropping every bad range would open the load
    // balancer wide. Fail closed instead: without its VIPs nothing reaches it through this node.
    p.add('spec.loadBalancerSourceRanges', 'no valid source range left; not programming load-balancer IPs');
    ingress = [];
  }

  const value: Service = {
    metadata: m.read.meta,
    spec: {
      type,
      clusterIP,
      clusterIPs,
      ports,
      externalIPs,
      loadBalancerSourceRanges,
      sessionAffinity,
      ...(sessionAffinityConfig ? { sessionAffinityConfig } : {}),
      externalTrafficPolicy,
      internalTrafficPolicy,
      ...(healthCheckNodePort !== undefined ? { healthCheckNodePort } : {}),
      ...(trafficDistribution !== undefined ? { trafficDistribution } : {}),
    },
    status: { loadBalancer: { ingress } },
  };
  return { ok: true, value, problems: p.list };
}

/** Invalid values fall back to the API default: the setting is the smallest unit here. */
function readWithDefault<T extends string>(v: unknown, dflt: T, allowed: readonly T[], field: string, p: Problems): T {
  if (isUnset(v) || v === '') return dflt;
  return readEnum(v, allowed, field, p) ?? dflt;
}

function readAffinityTimeout(spec: Json, p: Problems): number {
  const cfg = readObject(own(spec, 'sessionAffinityConfig'), 'spec.sessionAffinityConfig', p);
  const clientIP = cfg ? readObject(own(cfg, 'clientIP'), 'spec.sessionAffinityConfig.clientIP', p) : undefined;
  const raw = clientIP ? own(clientIP, 'timeoutSeconds') : undefined;
  if (isUnset(raw)) return DEFAULT_AFFINITY_TIMEOUT_SECONDS;
  const t = readInt(raw, 1, MAX_AFFINITY_TIMEOUT_SECONDS, 'spec.sessionAffinityConfig.clientIP.timeoutSeconds', p);
  return t ?? DEFAULT_AFFINITY_TIMEOUT_SECONDS;
}

function readClusterIPs(spec: Json, p: Problems): { clusterIP: string; clusterIPs: string[] } {
  const rawIP = own(spec, 'clusterIP');
  const rawIPs = own(spec, 'clusterIPs');
  if (!isUnset(rawIP) && typeof rawIP !== 'string') {
    p.add('spec.clusterIP', `must be an IP address, "None" or empty, got ${describe(rawIP)}`);
  }
  // clusterIPs is authoritative (clusterIP mirrors clusterIPs[0]); objects written before
  // dual-stack only carry clusterIP.
  const useList = !isUnset(rawIPs);
  const list: readonly unknown[] = useList
    ? readArray(rawIPs, 'spec.clusterIPs', p)
    : typeof rawIP === 'string'
      ? [rawIP]
      : [];
  const fieldOf = (i: number): string => (useList ? `spec.clusterIPs[${i}]` : 'spec.clusterIP');
  if (rawIP === 'None' || list[0] === 'None') return { clusterIP: 'None', clusterIPs: [] };
  if (list.length === 0 || list[0] === '') return { clusterIP: '', clusterIPs: [] };

  const clusterIPs: string[] = [];
  const families = new Set<number>();
  list.forEach((raw, i) => {
    const ip = readIP(raw, fieldOf(i), p);
    if (ip === undefined) return;
    const r = parseIP(ip);
    const family = r.ok ? r.ip.family : 0;
    if (families.has(family)) {
      p.add(fieldOf(i), `a second IPv${family} cluster IP (${ip}); only one per family is allowed`);
      return;
    }
    families.add(family);
    clusterIPs.push(ip);
  });
  if (useList && typeof rawIP === 'string' && rawIP !== '' && clusterIPs.length > 0) {
    const first = parseIP(rawIP);
    if (!first.ok || first.ip.text !== clusterIPs[0]) {
      p.add('spec.clusterIP', `must equal clusterIPs[0] (${clusterIPs[0]}), got ${describe(rawIP)}; using clusterIPs`);
    }
  }
  return { clusterIP: clusterIPs[0] ?? '', clusterIPs };
}

function readPorts(raw: unknown, type: ServiceType, nodePortRange: PortRange, p: Problems): ServicePortSpec[] {
  const out: ServicePortSpec[] = [];
  const names = new Set<string>();
  const portProtos = new Set<string>();
  readArray(raw, 'spec.ports', p).forEach((item, i) => {
    const f = `spec.ports[${i}]`;
    const port = readOnePort(item, f, type, nodePortRange, p);
    if (!port) return;
    // ServicePortName (ns/name:port) is the key of everything downstream, and two ports on the same
    // number/protocol would program conflicting rules; the API rejects both, so keep the first.
    if (names.has(port.name)) {
      p.add(`${f}.name`, `duplicate port name ${describe(port.name)}; keeping the first`);
      return;
    }
    const pp = `${port.port}/${port.protocol}`;
    if (portProtos.has(pp)) {
      p.add(`${f}.port`, `duplicate port ${pp}; keeping the first`);
      return;
    }
    names.add(port.name);
    portProtos.add(pp);
    out.push(port);
  });
  return out;
}

function readOnePort(item: unknown, f: string, type: ServiceType, range: PortRange, p: Problems): ServicePortSpec | undefined {
  if (!isRecord(item)) {
    p.add(f, `must be an object, got ${describe(item)}`);
    return undefined;
  }
  const rawName = own(item, 'name');
  let name = '';
  if (!isUnset(rawName)) {
    if (typeof rawName !== 'string' || (rawName !== '' && !isDNSLabel(rawName))) {
      p.add(`${f}.name`, `must be a DNS label, got ${describe(rawName)}`);
      return undefined;
    }
    name = rawName;
  }
  const rawProto = own(item, 'protocol');
  const protocol: Protocol | undefined = isUnset(rawProto) ? 'TCP' : readEnum(rawProto, PROTOCOLS, `${f}.protocol`, p);
  const port = readPort(own(item, 'port'), `${f}.port`, p);
  if (protocol === undefined || port === undefined) return undefined;

  const rawTarget = own(item, 'targetPort');
  let targetPort: number | string = port; // API default: same as port (0 is IntOrString's zero value)
  if (!isUnset(rawTarget) && rawTarget !== 0 && rawTarget !== '') {
    if (typeof rawTarget === 'string') {
      if (!isIANASvcName(rawTarget)) {
        p.add(`${f}.targetPort`, `must be a port number or an IANA service name, got ${describe(rawTarget)}`);
        return undefined;
      }
      targetPort = rawTarget;
    } else {
      const t = readPort(rawTarget, `${f}.targetPort`, p);
      if (t === undefined) return undefined;
      targetPort = t;
    }
  }

  const rawNodePort = own(item, 'nodePort');
  let nodePort: number | undefined;
  if (!isUnset(rawNodePort) && rawNodePort !== 0) {
    if (type === 'ClusterIP' || type === 'ExternalName') {
      // The API forbids it; the port itself is still fine, so only the nodePort goes.
      p.add(`${f}.nodePort`, `not allowed for type ${type}, got ${describe(rawNodePort)}; ignored`);
    } else {
      nodePort = readInt(rawNodePort, range.min, range.max, `${f}.nodePort`, p);
    }
  }
  return { name, protocol, port, targetPort, ...(nodePort !== undefined ? { nodePort } : {}) };
}

function readIPList(raw: unknown, field: string, p: Problems): string[] {
  const out: string[] = [];
  readArray(raw, field, p).forEach((v, i) => {
    const ip = readIP(v, `${field}[${i}]`, p);
    if (ip !== undefined && !out.includes(ip)) out.push(ip);
  });
  return out;
}

function readCIDRList(list: readonly unknown[], field: string, p: Problems): string[] {
  const out: string[] = [];
  list.forEach((v, i) => {
    const c = readCIDR(v, `${field}[${i}]`, p);
    if (c !== undefined && !out.includes(c)) out.push(c);
  });
  return out;
}

function readIngress(rawStatus: unknown, p: Problems): LoadBalancerIngress[] {
  const status = readObject(rawStatus, 'status', p);
  const lb = status ? readObject(own(status, 'loadBalancer'), 'status.loadBalancer', p) : undefined;
  if (!lb) return [];
  const out: LoadBalancerIngress[] = [];
  readArray(own(lb, 'ingress'), 'status.loadBalancer.ingress', p).forEach((item, i) => {
    const f = `status.loadBalancer.ingress[${i}]`;
    if (!isRecord(item)) {
      p.add(f, `must be an object, got ${describe(item)}`);
      return;
    }
    const rawIP = own(item, 'ip');
    // Hostname-only ingress (e.g. AWS ELB) has nothing for kube-proxy to program.
    if (isUnset(rawIP) || rawIP === '') return;
    const ip = readIP(rawIP, `${f}.ip`, p);
    const rawMode = own(item, 'ipMode');
    const ipMode: LoadBalancerIPMode | undefined = isUnset(rawMode) ? 'VIP' : readEnum(rawMode, IP_MODES, `${f}.ipMode`, p);
    if (ip === undefined || ipMode === undefined) return;
    if (!out.some((x) => x.ip === ip)) out.push({ ip, ipMode });
  });
  return out;
}
