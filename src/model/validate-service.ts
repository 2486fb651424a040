// unknown → validated v1 Service. A bad value drops the smallest unit holding it (one port, one
// external IP, one ingress entry) with a Problem; only an unusable object as a whole fails.

import { canonicalIPv4, ipv4Number, parseIP } from './ip.js';
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

  const serviceSpec: { -readonly [K in keyof ServiceSpec]: ServiceSpec[K] } = {
    type,
    clusterIP,
    clusterIPs,
    ports,
    externalIPs,
    loadBalancerSourceRanges,
    sessionAffinity,
    externalTrafficPolicy,
    internalTrafficPolicy,
  };
  if (sessionAffinityConfig) serviceSpec.sessionAffinityConfig = sessionAffinityConfig;
  if (healthCheckNodePort !== undefined) serviceSpec.healthCheckNodePort = healthCheckNodePort;
  if (trafficDistribution !== undefined) serviceSpec.trafficDistribution = trafficDistribution;
  const value: Service = { metadata: m.read.meta, spec: serviceSpec, status: { loadBalancer: { ingress } } };
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
  if (rawIP === 'None' || list[0] === 'None') return { clusterIP: 'None', clusterIPs: [] };
  if (list.length === 0 || list[0] === '') return { clusterIP: '', clusterIPs: [] };

  const clusterIPs: string[] = [];
  let families = 0; // bit 4 and bit 6
  for (let i = 0; i < list.length; i++) {
    const raw = list[i];
    const ip = (typeof raw === 'string' ? canonicalIPv4(raw) : undefined) ?? readIP(raw, clusterIPField(useList, i), p);
    if (ip === undefined) continue;
    const family = ipv4Number(ip) >= 0 ? 4 : 6;
    if ((families & (1 << family)) !== 0) {
      p.add(clusterIPField(useList, i), `a second IPv${family} cluster IP (${ip}); only one per family is allowed`);
      continue;
    }
    families |= 1 << family;
    clusterIPs.push(ip);
  }
  if (useList && typeof rawIP === 'string' && rawIP !== '' && clusterIPs.length > 0) {
    if (canonicalText(rawIP) !== clusterIPs[0]) {
      p.add('spec.clusterIP', `must equal clusterIPs[0] (${clusterIPs[0]}), got ${describe(rawIP)}; using clusterIPs`);
    }
  }
  return { clusterIP: clusterIPs[0] ?? '', clusterIPs };
}

function clusterIPField(useList: boolean, i: number): string {
  return useList ? `spec.clusterIPs[${i}]` : 'spec.clusterIP';
}

/** Canonical text of an address, or undefined when it is none. */
function canonicalText(s: string): string | undefined {
  const v4 = canonicalIPv4(s);
  if (v4 !== undefined) return v4;
  const r = parseIP(s);
  return r.ok ? r.ip.text : undefined;
}

function readPorts(raw: unknown, type: ServiceType, nodePortRange: PortRange, p: Problems): ServicePortSpec[] {
  const out: ServicePortSpec[] = [];
  const items = readArray(raw, 'spec.ports', p);
  for (let i = 0; i < items.length; i++) {
    const port = readOnePort(items[i], i, type, nodePortRange, p);
    if (!port) continue;
    // ServicePortName (ns/name:port) is the key of everything downstream, and two ports on the same
    // number/protocol would program conflicting rules; the API rejects both, so keep the first.
    if (out.some((q) => q.name === port.name)) {
      p.add(`spec.ports[${i}].name`, `duplicate port name ${describe(port.name)}; keeping the first`);
      continue;
    }
    if (out.some((q) => q.port === port.port && q.protocol === port.protocol)) {
      p.add(`spec.ports[${i}].port`, `duplicate port ${port.port}/${port.protocol}; keeping the first`);
      continue;
    }
    out.push(port);
  }
  return out;
}

function readOnePort(item: unknown, i: number, type: ServiceType, range: PortRange, p: Problems): ServicePortSpec | undefined {
  // Field paths are built only for a problem: this runs for every port of every Service.
  if (!isRecord(item)) {
    p.add(`spec.ports[${i}]`, `must be an object, got ${describe(item)}`);
    return undefined;
  }
  const rawName = own(item, 'name');
  let name = '';
  if (!isUnset(rawName)) {
    if (typeof rawName !== 'string' || (rawName !== '' && !isDNSLabel(rawName))) {
      p.add(`spec.ports[${i}].name`, `must be a DNS label, got ${describe(rawName)}`);
      return undefined;
    }
    name = rawName;
  }
  const rawProto = own(item, 'protocol');
  const protocol: Protocol | undefined = isUnset(rawProto) ? 'TCP'
    : rawProto === 'TCP' || rawProto === 'UDP' || rawProto === 'SCTP' ? rawProto
    : readEnum(rawProto, PROTOCOLS, `spec.ports[${i}].protocol`, p);
  const rawPort = own(item, 'port');
  const port = isPort(rawPort) ? rawPort : readPort(rawPort, `spec.ports[${i}].port`, p);
  if (protocol === undefined || port === undefined) return undefined;

  const rawTarget = own(item, 'targetPort');
  let targetPort: number | string = port; // API default: same as port (0 is IntOrString's zero value)
  if (!isUnset(rawTarget) && rawTarget !== 0 && rawTarget !== '') {
    if (typeof rawTarget === 'string') {
      if (!isIANASvcName(rawTarget)) {
        p.add(`spec.ports[${i}].targetPort`, `must be a port number or an IANA service name, got ${describe(rawTarget)}`);
        return undefined;
      }
      targetPort = rawTarget;
    } else {
      const t = isPort(rawTarget) ? rawTarget : readPort(rawTarget, `spec.ports[${i}].targetPort`, p);
      if (t === undefined) return undefined;
      targetPort = t;
    }
  }

  const rawNodePort = own(item, 'nodePort');
  let nodePort: number | undefined;
  if (!isUnset(rawNodePort) && rawNodePort !== 0) {
    if (type === 'ClusterIP' || type === 'ExternalName') {
      // The API forbids it; the port itself is still fine, so only the nodePort goes.
      p.add(`spec.ports[${i}].nodePort`, `not allowed for type ${type}, got ${describe(rawNodePort)}; ignored`);
    } else {
      nodePort = readInt(rawNodePort, range.min, range.max, `spec.ports[${i}].nodePort`, p);
    }
  }
  return nodePort !== undefined ? { name, protocol, port, targetPort, nodePort } : { name, protocol, port, targetPort };
}

function isPort(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 65535;
}

function readIPList(raw: unknown, field: string, p: Problems): string[] {
  if (isUnset(raw)) return [];
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
