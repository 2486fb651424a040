import { ConfigError } from './types.js';

type FlagType = 'string' | 'bool' | 'list' | 'int' | 'boolMap';

/** Flags of `run`: kube-proxy's names where kube-proxy has them, then ours. */
export const RUN_FLAGS = {
  'config': 'string',
  'proxy-mode': 'string',
  'kubeconfig': 'string',
  'hostname-override': 'string',
  'cluster-cidr': 'string',
  'detect-local-mode': 'string',
  'pod-bridge-interface': 'string',
  'pod-interface-name-prefix': 'string',
  'nodeport-addresses': 'list',
  'masquerade-all': 'bool',
  'iptables-localhost-nodeports': 'bool',
  'healthz-bind-address': 'string',
  'metrics-bind-address': 'string',
  'bind-address': 'string',
  'bind-address-hard-fail': 'bool',
  'udp-timeout': 'string',
  'cleanup': 'bool',
  'oom-score-adj': 'int',
  'ipvs-scheduler': 'string',
  'ipvs-tcp-timeout': 'string',
  'ipvs-tcpfin-timeout': 'string',
  'ipvs-udp-timeout': 'string',
  'iptables-sync-period': 'string',
  'iptables-min-sync-period': 'string',
  'ipvs-sync-period': 'string',
  'ipvs-min-sync-period': 'string',
  'v': 'int',
  'logging-format': 'string',
  'feature-gates': 'boolMap',
  // ours
  'manifests': 'string',
  'devices': 'list',
  'bpf-pin-dir': 'string',
  'cgroup-root': 'string',
  'content-type': 'string',
  'lb-algorithm': 'string',
  'bpf-xdp': 'string',
  'bpf-slots': 'int',
  'bpf-max-services': 'int',
  'bpf-max-backends': 'int',
} as const satisfies Record<string, FlagType>;

export type RunFlagName = keyof typeof RUN_FLAGS;
export type ParsedFlags = Partial<Record<RunFlagName, string | boolean | string[] | number | Record<string, boolean>>>;

/** Go's strconv.ParseBool, which kube-proxy's `Name=value` pairs go through. */
const GO_BOOLS: Record<string, boolean> = { 1: true, t: true, T: true, TRUE: true, true: true, True: true, 0: false, f: false, F: false, FALSE: false, false: false, False: false };

/** kube-proxy's --feature-gates syntax, `Name=true,Other=false`; a repeated flag adds to the map, as there. */
function parseBoolMap(name: string, value: string, into: Record<string, boolean>, problems: string[]): void {
  for (const pair of value.split(',')) {
    if (pair.trim() === '') continue;
    const eq = pair.indexOf('=');
    if (eq < 0) {
      problems.push(`--${name} takes Name=true,Other=false, got ${JSON.stringify(pair.trim())}`);
      continue;
    }
    const key = pair.slice(0, eq).trim();
    const v = pair.slice(eq + 1).trim();
    if (Object.hasOwn(GO_BOOLS, v)) into[key] = GO_BOOLS[v]!;
    else problems.push(`--${name}: ${key} takes true or false, got ${JSON.stringify(v)}`);
  }
}

/** Parses `--name value`, `--name=value` and bare booleans; every problem is collected. */
export function parseFlags(argv: string[], spec: Record<string, FlagType> = RUN_FLAGS): ParsedFlags {
  const out: Record<string, string | boolean | string[] | number | Record<string, boolean>> = {};
  const problems: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const m = /^--?([a-z0-9-]+)(?:=(.*))?$/s.exec(arg);
    if (!m) {
      problems.push(`unexpected argument ${JSON.stringify(arg)}`);
      continue;
    }
    const name = m[1]!;
    const type = spec[name];
    if (!type) {
      problems.push(`unknown flag --${name}`);
      continue;
    }
    let value = m[2];
    if (type === 'bool') {
      if (value === undefined || value === 'true') out[name] = true;
      else if (value === 'false') out[name] = false;
      else problems.push(`--${name} takes true or false, got ${JSON.stringify(value)}`);
      continue;
    }
    if (value === undefined) {
      value = argv[++i];
      if (value === undefined) {
        problems.push(`--${name} needs a value`);
        continue;
      }
    }
    if (type === 'list') out[name] = value.split(',').map((s) => s.trim()).filter(Boolean);
    // No prototype: a gate named __proto__ is kept, to be refused by name.
    else if (type === 'boolMap') parseBoolMap(name, value, (out[name] ??= Object.create(null) as Record<string, boolean>) as Record<string, boolean>, problems);
    else if (type === 'int') {
      if (!/^-?\d+$/.test(value)) problems.push(`--${name} takes an integer, got ${JSON.stringify(value)}`);
      else out[name] = Number(value);
    } else out[name] = value;
  }
  if (problems.length) throw new ConfigError(problems);
  return out as ParsedFlags;
}
