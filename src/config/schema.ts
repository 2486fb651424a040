// The shape of KubeProxyConfiguration (kubeproxy.config.k8s.io/v1alpha1) as
// users already have it in their kube-proxy ConfigMap, plus our `ebpf` section.
// Every key kube-proxy knows is accepted, so an existing file loads unchanged;
// a key neither of us knows is an error naming its path.

import { parseGoDuration } from './duration.js';

export type FieldType = 'string' | 'bool' | 'int' | 'number' | 'duration' | 'stringList' | 'boolMap' | 'any' | Schema;
export interface Schema {
  [key: string]: FieldType;
}

const conntrack: Schema = {
  maxPerCore: 'int', min: 'int', tcpCloseWaitTimeout: 'duration', tcpEstablishedTimeout: 'duration',
  tcpBeLiberal: 'bool', udpTimeout: 'duration', udpStreamTimeout: 'duration',
};

const syncSection: Schema = { masqueradeAll: 'bool', masqueradeBit: 'int', minSyncPeriod: 'duration', syncPeriod: 'duration' };

export const KUBE_PROXY_CONFIGURATION: Schema = {
  apiVersion: 'string',
  kind: 'string',
  bindAddress: 'string',
  bindAddressHardFail: 'bool',
  clientConnection: { acceptContentTypes: 'string', burst: 'int', contentType: 'string', kubeconfig: 'string', qps: 'number' },
  clusterCIDR: 'string',
  configSyncPeriod: 'duration',
  conntrack,
  detectLocalMode: 'string',
  detectLocal: { bridgeInterface: 'string', interfaceNamePrefix: 'string' },
  enableProfiling: 'bool',
  featureGates: 'boolMap',
  healthzBindAddress: 'string',
  hostnameOverride: 'string',
  iptables: { ...syncSection, localhostNodePorts: 'bool' },
  ipvs: {
    excludeCIDRs: 'stringList', minSyncPeriod: 'duration', scheduler: 'string', strictARP: 'bool', syncPeriod: 'duration',
    tcpFinTimeout: 'duration', tcpTimeout: 'duration', udpTimeout: 'duration',
  },
  nftables: syncSection,
  logging: 'any',
  metricsBindAddress: 'string',
  mode: 'string',
  nodePortAddresses: 'stringList',
  oomScoreAdj: 'int',
  portRange: 'string',
  showHiddenMetricsForVersion: 'string',
  udpIdleTimeout: 'duration',
  winkernel: 'any',
  windowsRunAsService: 'bool',
  // Ours: settings kube-proxy has no place for.
  ebpf: { bpfPinDir: 'string', cgroupRoot: 'string', devices: 'stringList', manifests: 'string', lbAlgorithm: 'string', xdp: 'string', slots: 'int', maxServices: 'int', maxBackends: 'int' },
};

export interface SchemaProblem {
  path: string;
  message: string;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${JSON.stringify(v)}`;
}

/**
 * Checks `doc` against `schema`, collecting every problem rather than stopping
 * at the first, so a user fixes their file in one round. `null` is accepted for
 * every field: kube-proxy's own dumps are full of `maxPerCore: null`.
 */
export function checkSchema(doc: unknown, schema: Schema, path = ''): SchemaProblem[] {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    return [{ path: path || '(top level)', message: `must be an object, got ${describe(doc)}` }];
  }
  const problems: SchemaProblem[] = [];
  for (const [key, value] of Object.entries(doc)) {
    const here = path ? `${path}.${key}` : key;
    const type = schema[key];
    if (type === undefined) {
      problems.push({ path: here, message: 'unknown field' });
      continue;
    }
    if (value === null || type === 'any') continue;
    const bad = (what: string) => problems.push({ path: here, message: `must be ${what}, got ${describe(value)}` });
    switch (type) {
      case 'string': if (typeof value !== 'string') bad('a string'); break;
      case 'bool': if (typeof value !== 'boolean') bad('true or false'); break;
      case 'int': if (!Number.isInteger(value)) bad('an integer'); break;
      case 'number': if (typeof value !== 'number' || !Number.isFinite(value)) bad('a number'); break;
      // Whatever the mode: kube-proxy decodes every section, and a malformed duration anywhere fails that.
      case 'duration': if (value !== 0 && (typeof value !== 'string' || parseGoDuration(value) === null)) bad('a duration such as "30s"'); break;
      case 'stringList': if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) bad('a list of strings'); break;
      case 'boolMap':
        if (typeof value !== 'object' || Array.isArray(value) || Object.values(value as object).some((v) => typeof v !== 'boolean')) {
          bad('a map of names to true/false');
        }
        break;
      default: problems.push(...checkSchema(value, type, here));
    }
  }
  return problems;
}
