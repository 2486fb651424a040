import { parseDuration } from './duration.js';
import { ConfigError } from './types.js';

type FlagType = 'string' | 'bool' | 'list' | 'int' | 'number' | 'boolMap';

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
  'kube-api-content-type': 'string',
  'kube-api-qps': 'number',
  'kube-api-burst': 'int',
  'iptables-masquerade-bit': 'int',
  'ipvs-strict-arp': 'bool',
  'ipvs-exclude-cidrs': 'list',
  'conntrack-max-per-core': 'int',
  'conntrack-min': 'int',
  'conntrack-tcp-timeout-established': 'string',
  'conntrack-tcp-timeout-close-wait': 'string',
  'conntrack-tcp-be-liberal': 'bool',
  'conntrack-udp-timeout': 'string',
  'conntrack-udp-timeout-stream': 'string',
  'config-sync-period': 'string',
  'show-hidden-metrics-for-version': 'string',
  'profiling': 'bool',
  'master': 'string',
  'init-only': 'bool',
  'write-config-to': 'string',
  // deprecated in kube-proxy for the bind addresses, still taken there
  'healthz-port': 'int',
  'metrics-port': 'int',
  // component-base's logging flags, which kube-proxy adds beside --v and --logging-format
  'log-flush-frequency': 'string',
  'vmodule': 'string',
  'log-text-split-stream': 'bool',
  'log-text-info-buffer-size': 'string',
  'log-json-split-stream': 'bool',
  'log-json-info-buffer-size': 'string',
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
type FlagValue = string | boolean | string[] | number | Record<string, boolean>;
export type ParsedFlags = Partial<Record<RunFlagName, FlagValue>>;

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
      // pflag's booleans go through strconv.ParseBool too: --masquerade-all=1 is kube-proxy's.
      if (value === undefined) out[name] = true;
      else if (Object.hasOwn(GO_BOOLS, value)) out[name] = GO_BOOLS[value]!;
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
    // A repeated list flag adds to the list, as pflag's string slices.
    if (type === 'list') out[name] = [...(out[name] as string[] | undefined ?? []), ...value.split(',').map((s) => s.trim()).filter(Boolean)];
    // No prototype: a gate named __proto__ is kept, to be refused by name.
    else if (type === 'boolMap') parseBoolMap(name, value, (out[name] ??= Object.create(null) as Record<string, boolean>) as Record<string, boolean>, problems);
    else if (type === 'int') {
      if (!/^-?\d+$/.test(value)) problems.push(`--${name} takes an integer, got ${JSON.stringify(value)}`);
      else out[name] = Number(value);
    } else if (type === 'number') {
      if (!/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(value) || !Number.isFinite(Number(value))) problems.push(`--${name} takes a number, got ${JSON.stringify(value)}`);
      else out[name] = Number(value);
    } else out[name] = value;
  }
  if (problems.length) throw new ConfigError(problems);
  return out as ParsedFlags;
}

/** A resource.Quantity's value is 0 ("0", "0Ki", "0.0"); false for anything else, malformed included. */
const zeroQuantity = (v: FlagValue) => typeof v === 'string' && /^[+-]?0*\.?0*(e[+-]?\d+|[KMGTPE]i|[numkMGTPE])?$/i.test(v) && /0/.test(v);

/**
 * kube-proxy's flags for what we do not have: why each changes nothing here, and which of its
 * values changes nothing in kube-proxy either (its default), which is taken without a word.
 */
const off = (v: FlagValue) => v === false || v === '';
const duration = (ms: number) => (v: FlagValue) => parseDuration(String(v)) === ms;
const UNHONOURED: readonly (readonly [RunFlagName, (v: FlagValue) => boolean, string])[] = [
  ['profiling', off, '/debug/pprof is not served'],
  ['show-hidden-metrics-for-version', off, 'no metric is hidden'],
  ['config-sync-period', duration(900_000), 'watched objects are not replayed from a cache: the periodic full sync is the sync period\'s'],
  ['init-only', off, 'run sets the node up at every start, with the privileges it has: there is nothing to do ahead, and it exits at once'],
  ['log-flush-frequency', duration(5000), 'log lines are written as they come: none waits for a flush'],
  ['vmodule', off, 'verbosity is one level for the whole process (--v)'],
  ['log-text-split-stream', off, 'every log line goes to stderr'],
  ['log-json-split-stream', off, 'every log line goes to stderr'],
  ['log-text-info-buffer-size', zeroQuantity, 'log lines are not buffered'],
  ['log-json-info-buffer-size', zeroQuantity, 'log lines are not buffered'],
];

/** kube-proxy's deprecated flags that `argv` sets, each with what replaces it: for a warning at start, as kube-proxy's. */
export function deprecatedFlags(argv: string[]): { flag: string; use: string }[] {
  const flags = parseFlags(argv);
  return ([['healthz-port', '--healthz-bind-address'], ['metrics-port', '--metrics-bind-address']] as const)
    .filter(([name]) => flags[name] !== undefined)
    .map(([name, use]) => ({ flag: `--${name}`, use }));
}

/**
 * The flags of `argv` (a valid `run` command line) that kube-proxy would act on and we cannot:
 * for a warning at start, each with why.
 */
export function unhonouredFlags(argv: string[]): { flag: string; value: unknown; reason: string }[] {
  const flags = parseFlags(argv);
  return UNHONOURED.flatMap(([name, noOp, reason]) => {
    const value = flags[name];
    return value === undefined || noOp(value) ? [] : [{ flag: `--${name}`, value, reason }];
  });
}
