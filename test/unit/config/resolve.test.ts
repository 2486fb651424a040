import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  ConfigError, DEFAULTS, deprecatedFlags, parseDuration, podRanges, preferSameNode, resolveConfig, RUN_FLAGS, unhonouredFeatureGates, unhonouredFlags, type ProxyConfig,
} from '../../../src/config/index.js';

const FIXTURE = join(import.meta.dirname, 'fixtures', 'kube-proxy-ipvs.yaml');

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
  throw new Error('expected a ConfigError');
}

const withFile = (doc: Record<string, unknown>) => (argv: string[]) => resolveConfig(['--config', 'cfg.yaml', ...argv], () => doc);

describe('resolveConfig', () => {
  it('--hostname-override is a node name as kube-proxy reads one: trimmed, lower case', () => {
    expect(resolveConfig(['--hostname-override', ' Node-A ']).hostnameOverride).toBe('node-a');
  });

  it('defaults are kube-proxy\'s, with auto mode and our pin directory', () => {
    const c = resolveConfig([]);
    expect(c).toEqual(DEFAULTS);
    expect(c.healthzBindAddress).toBe('0.0.0.0:10256');
    expect(c.metricsBindAddress).toBe('127.0.0.1:10249');
    expect(c.minSyncPeriodMs).toBe(1000);
    expect(c.syncPeriodMs).toBe(30_000);
  });

  it('a kubeadm kube-proxy ConfigMap loads unchanged; zero values mean defaults', () => {
    const c = resolveConfig(['--config', FIXTURE]);
    expect(c.mode).toBe('ipvs');
    expect(c.ipvsScheduler).toBe('wrr');
    expect(c.clusterCIDRs).toEqual(['10.244.0.0/16']);
    expect(c.kubeconfig).toBe('/var/lib/kube-proxy/kubeconfig.conf');
    expect(c.qps).toBe(5);
    expect(c.healthzBindAddress).toBe('0.0.0.0:10256');
    expect(c.syncPeriodMs).toBe(30_000);
  });

  it('mode: ebpf and our section', () => {
    const c = withFile({ mode: 'ebpf', ebpf: { bpfPinDir: '/sys/fs/bpf/ekp-a', devices: ['eth0'], cgroupRoot: '/sys/fs/cgroup' } })([]);
    expect(c).toMatchObject({ mode: 'ebpf', bpfPinDir: '/sys/fs/bpf/ekp-a', devices: ['eth0'], cgroupRoot: '/sys/fs/cgroup' });
  });

  it('the selected mode\'s section gives sync periods and masquerade settings', () => {
    const doc = { mode: 'nftables', iptables: { syncPeriod: '10s' }, nftables: { syncPeriod: '1m0s', minSyncPeriod: '250ms', masqueradeAll: true } };
    expect(withFile(doc)([])).toMatchObject({ syncPeriodMs: 60_000, minSyncPeriodMs: 250, masqueradeAll: true });
    expect(withFile({ ...doc, mode: 'iptables' })([])).toMatchObject({ syncPeriodMs: 10_000, masqueradeAll: false });
  });

  it('masqueradeAll and masqueradeBit: the nftables section in nftables mode, the iptables one in every other mode, ipvs too, as kube-proxy\'s conversion', () => {
    const doc = { iptables: { masqueradeAll: true, masqueradeBit: 15 }, nftables: { masqueradeAll: false, masqueradeBit: 16 } };
    for (const mode of ['ipvs', 'iptables', 'ebpf', 'userspace', '']) {
      expect(withFile({ ...doc, mode })([]), mode).toMatchObject({ masqueradeAll: true, masqueradeBit: 15 });
    }
    expect(withFile({ ...doc, mode: 'nftables' })([])).toMatchObject({ masqueradeAll: false, masqueradeBit: 16 });
    // kube-proxy checks the iptables section's bit in every mode, the nftables one's in nftables mode only.
    expect(problemsOf(() => withFile({ mode: 'nftables', iptables: { masqueradeBit: 32 } })([]))).toEqual(['cfg.yaml: iptables.masqueradeBit: must be 0-31, got 32']);
    expect(problemsOf(() => withFile({ mode: 'nftables', nftables: { masqueradeBit: -1 } })([]))).toEqual(['cfg.yaml: nftables.masqueradeBit: must be 0-31, got -1']);
    expect(withFile({ mode: 'ipvs', nftables: { masqueradeBit: 32 } })([]).masqueradeBit).toBe(14);
  });

  it('every duration of every section is checked whatever the mode, as kube-proxy decodes them, named by file and field', () => {
    expect(problemsOf(() => withFile({ mode: 'iptables', ipvs: { syncPeriod: 'bogus' } })([]))).toEqual(['cfg.yaml: ipvs.syncPeriod: must be a duration such as "30s", got string "bogus"']);
    expect(problemsOf(() => withFile({
      iptables: { syncPeriod: 'bogus' }, nftables: { minSyncPeriod: '1 s' }, ipvs: { tcpTimeout: '15' }, conntrack: { udpTimeout: '30sec' },
      configSyncPeriod: '15 minutes', udpIdleTimeout: '-',
    })([]))).toEqual([
      'cfg.yaml: iptables.syncPeriod: must be a duration such as "30s", got string "bogus"',
      'cfg.yaml: nftables.minSyncPeriod: must be a duration such as "30s", got string "1 s"',
      'cfg.yaml: ipvs.tcpTimeout: must be a duration such as "30s", got string "15"',
      'cfg.yaml: conntrack.udpTimeout: must be a duration such as "30s", got string "30sec"',
      'cfg.yaml: configSyncPeriod: must be a duration such as "30s", got string "15 minutes"',
      'cfg.yaml: udpIdleTimeout: must be a duration such as "30s", got string "-"',
    ]);
    // Go's syntax: a sign, a fraction without its leading digit, either micro sign; another mode's values are only decoded.
    expect(withFile({ mode: 'iptables', ipvs: { syncPeriod: '-1s', minSyncPeriod: '1000\u03bcs' }, iptables: { syncPeriod: '+1.5m', minSyncPeriod: '.25s' } })([]))
      .toMatchObject({ syncPeriodMs: 90_000, minSyncPeriodMs: 250 });
    // The selected section's (0s there is the default) and conntrack's must not be negative.
    expect(problemsOf(() => withFile({ iptables: { syncPeriod: '-30s' }, conntrack: { tcpCloseWaitTimeout: '-1h', udpStreamTimeout: '-1s' } })([]))).toEqual([
      'cfg.yaml: iptables.syncPeriod: "-30s" is not a duration of 0s or more',
      'cfg.yaml: conntrack.tcpCloseWaitTimeout: "-1h" is not a duration of 0s or more',
      'cfg.yaml: conntrack.udpStreamTimeout: "-1s" is not a duration of 0s or more',
    ]);
  });

  it('--iptables-(min-)sync-period in every mode but ipvs, --ipvs-(min-)sync-period in ipvs mode, as kube-proxy; a flag\'s 0s minimum syncs every change at once', () => {
    const doc = { mode: 'nftables', nftables: { syncPeriod: '1m0s', minSyncPeriod: '250ms' } };
    const flags = ['--iptables-sync-period', '45s', '--iptables-min-sync-period', '0s', '--ipvs-sync-period', '5s', '--ipvs-min-sync-period', '2s'];
    expect(withFile(doc)(flags)).toMatchObject({ syncPeriodMs: 45_000, minSyncPeriodMs: 0 });
    expect(resolveConfig(['--proxy-mode', 'ebpf', ...flags])).toMatchObject({ syncPeriodMs: 45_000, minSyncPeriodMs: 0 });
    expect(resolveConfig(flags)).toMatchObject({ mode: 'auto', syncPeriodMs: 45_000, minSyncPeriodMs: 0 });
    expect(resolveConfig(['--proxy-mode', 'ipvs', ...flags])).toMatchObject({ syncPeriodMs: 5000, minSyncPeriodMs: 2000 });
    // The other mode's flags are not applied, but a malformed one is refused, as kube-proxy's flag parsing does.
    expect(resolveConfig(['--proxy-mode', 'ipvs', '--iptables-sync-period', '1m'])).toMatchObject({ syncPeriodMs: 30_000 });
    expect(problemsOf(() => resolveConfig(['--proxy-mode', 'ipvs', '--iptables-sync-period', 'soon']))).toEqual(['--iptables-sync-period: "soon" is not a duration above 0s']);
    expect(problemsOf(() => resolveConfig(['--iptables-sync-period', '0s', '--iptables-min-sync-period', '-1s']))).toEqual([
      '--iptables-sync-period: "0s" is not a duration above 0s',
      '--iptables-min-sync-period: "-1s" is not a duration of 0s or more',
    ]);
    expect(problemsOf(() => resolveConfig(['--proxy-mode', 'ipvs', '--ipvs-min-sync-period', '1m']))).toEqual(['minSyncPeriod (60000 ms) must not exceed syncPeriod (30000 ms)']);
  });

  it('flags win over the file', () => {
    const c = withFile({ mode: 'iptables', clusterCIDR: '10.0.0.0/8' })(['--proxy-mode=ebpf', '--cluster-cidr', '10.244.0.0/16,fd00::/48', '--masquerade-all']);
    expect(c).toMatchObject({ mode: 'ebpf', clusterCIDRs: ['10.244.0.0/16', 'fd00::/48'], masqueradeAll: true });
  });

  it('all of our and kube-proxy\'s run flags parse', () => {
    const c = resolveConfig([
      '--proxy-mode', 'ebpf', '--hostname-override', 'node-a', '--nodeport-addresses', '192.168.0.0/16,10.0.0.0/8',
      '--healthz-bind-address', '[::]:10256', '--metrics-bind-address=127.0.0.1:19999', '--manifests', '/tmp/m',
      '--devices', 'eth0,eth1', '--bpf-pin-dir', '/sys/fs/bpf/x', '--cgroup-root', '/sys/fs/cgroup/unified', '--v=2',
    ]);
    expect(c).toMatchObject({
      hostnameOverride: 'node-a', nodePortAddresses: ['192.168.0.0/16', '10.0.0.0/8'], healthzBindAddress: '[::]:10256',
      metricsBindAddress: '127.0.0.1:19999', manifestsDir: '/tmp/m', devices: ['eth0', 'eth1'], verbosity: 2,
    });
  });

  it('eBPF settings: load-balancing algorithm, slot pool and conntrack size', () => {
    expect(resolveConfig(['--lb-algorithm', 'maglev', '--bpf-slots', '4194304'])).toMatchObject({ lbAlgorithm: 'maglev', bpfSlots: 4_194_304 });
    expect(resolveConfig(['--bpf-max-services', '200000', '--bpf-max-backends', '1000000'])).toMatchObject({ bpfMaxServices: 200_000, bpfMaxBackends: 1_000_000 });
    expect(resolveConfig([])).toMatchObject({ bpfXdp: 'auto' });
    expect(resolveConfig(['--bpf-xdp', 'on'])).toMatchObject({ bpfXdp: 'on' });
    expect(withFile({ ebpf: { xdp: 'off' } })([])).toMatchObject({ bpfXdp: 'off' });
    expect(problemsOf(() => resolveConfig(['--bpf-xdp', 'yes']))).toEqual(['--bpf-xdp / ebpf.xdp: must be auto, on or off, got "yes"']);
    expect(withFile({ ebpf: { lbAlgorithm: 'maglev', slots: 65536 }, conntrack: { min: 1000, maxPerCore: 0 } })([])).toMatchObject({ lbAlgorithm: 'maglev', bpfSlots: 65536, conntrackMax: 1000 });
    expect(problemsOf(() => resolveConfig(['--lb-algorithm', 'roundrobin', '--bpf-slots', '10']))).toEqual([
      '--lb-algorithm / ebpf.lbAlgorithm: must be random or maglev, got "roundrobin"',
      '--bpf-slots / ebpf.slots: must be an integer from 1024 to 268435456, got 10',
    ]);
  });

  it('oomScoreAdj: kube-proxy\'s -999 by default, from the file or --oom-score-adj, -1000 to 1000', () => {
    expect(resolveConfig([]).oomScoreAdj).toBe(-999);
    expect(withFile({ oomScoreAdj: null })([]).oomScoreAdj).toBe(-999);
    expect(withFile({ oomScoreAdj: -500 })(['--oom-score-adj', '0']).oomScoreAdj).toBe(0);
    expect(withFile({ oomScoreAdj: -500 })([]).oomScoreAdj).toBe(-500);
    expect(problemsOf(() => resolveConfig(['--oom-score-adj', '-1001']))).toEqual(['--oom-score-adj / oomScoreAdj: must be an integer from -1000 to 1000, got -1001']);
  });

  it('bindAddress overrides the primary node IP (0.0.0.0 and :: say nothing); bindAddressHardFail; udpIdleTimeout for userspace', () => {
    expect(resolveConfig([])).toMatchObject({ bindAddress: null, bindAddressHardFail: false, udpIdleTimeoutMs: null });
    // kubeadm's ConfigMap says 0.0.0.0 and udpIdleTimeout 0s.
    expect(withFile({ bindAddress: '0.0.0.0', udpIdleTimeout: '0s' })([])).toMatchObject({ bindAddress: null, udpIdleTimeoutMs: null });
    expect(resolveConfig(['--bind-address', '::']).bindAddress).toBeNull();
    expect(withFile({ bindAddress: '192.168.1.7', bindAddressHardFail: true, udpIdleTimeout: '250ms' })([]))
      .toMatchObject({ bindAddress: '192.168.1.7', bindAddressHardFail: true, udpIdleTimeoutMs: 250 });
    expect(resolveConfig(['--bind-address', 'FD00::7', '--bind-address-hard-fail', '--udp-timeout', '2s']))
      .toMatchObject({ bindAddress: 'fd00::7', bindAddressHardFail: true, udpIdleTimeoutMs: 2000 });
    expect(problemsOf(() => resolveConfig(['--bind-address', 'node-a', '--udp-timeout', 'soon']))).toEqual([
      '--bind-address / bindAddress: must be an IP address, got "node-a"',
      '--udp-timeout / udpIdleTimeout: "soon" is not a duration of 0s or more',
    ]);
  });

  it('iptables.localhostNodePorts: true by default as in kube-proxy, from the file (null: the default) or --iptables-localhost-nodeports', () => {
    expect(resolveConfig([]).iptablesLocalhostNodePorts).toBe(true);
    expect(withFile({ iptables: { localhostNodePorts: null } })([]).iptablesLocalhostNodePorts).toBe(true);
    expect(withFile({ iptables: { localhostNodePorts: false } })([]).iptablesLocalhostNodePorts).toBe(false);
    expect(withFile({ iptables: { localhostNodePorts: false } })(['--iptables-localhost-nodeports=true']).iptablesLocalhostNodePorts).toBe(true);
    expect(resolveConfig(['--iptables-localhost-nodeports=false']).iptablesLocalhostNodePorts).toBe(false);
  });

  it('ipvs timeouts: whole seconds, as kube-proxy rounds them; flags win; 0 (the default) leaves the kernel\'s', () => {
    expect(resolveConfig([]).ipvsTimeouts).toEqual({ tcpS: 0, tcpFinS: 0, udpS: 0 });
    expect(withFile({ ipvs: { tcpTimeout: '15m0s', tcpFinTimeout: '30.9s', udpTimeout: null } })(['--ipvs-udp-timeout', '1m'])
      .ipvsTimeouts).toEqual({ tcpS: 900, tcpFinS: 30, udpS: 60 });
    expect(problemsOf(() => resolveConfig(['--ipvs-tcp-timeout', '-1s', '--ipvs-tcpfin-timeout', 'soon']))).toEqual([
      '--ipvs-tcp-timeout / ipvs.tcpTimeout: "-1s" is not a duration of 0s or more',
      '--ipvs-tcpfin-timeout / ipvs.tcpFinTimeout: "soon" is not a duration of 0s or more',
    ]);
  });

  it('detectLocalMode: which sources are pods, as kube-proxy\'s local detector', () => {
    const ranges = (argv: string[], doc: Record<string, unknown> = {}) => podRanges(withFile(doc)(argv));
    expect(ranges([])).toBeUndefined(); // the Node's podCIDRs
    expect(ranges(['--cluster-cidr', '10.244.0.0/16'])).toEqual(['10.244.0.0/16']);
    expect(ranges(['--cluster-cidr', '10.244.0.0/16'], { detectLocalMode: 'NodeCIDR' })).toBeUndefined();
    expect(ranges([], { detectLocalMode: 'ClusterCIDR' })).toEqual([]); // no CIDR: nothing is a pod
    expect(ranges(['--detect-local-mode', 'ClusterCIDR', '--cluster-cidr', '10.244.0.0/16'])).toEqual(['10.244.0.0/16']);
    expect(withFile({ detectLocalMode: 'InterfaceNamePrefix', detectLocal: { interfaceNamePrefix: 'cali' } })([]))
      .toMatchObject({ detectLocalMode: 'InterfaceNamePrefix', podInterface: { name: 'cali', prefix: true } });
    expect(resolveConfig(['--detect-local-mode', 'BridgeInterface', '--pod-bridge-interface', 'cbr0']).podInterface).toEqual({ name: 'cbr0', prefix: false });
    // The other mode's name is not this mode's.
    expect(withFile({ detectLocalMode: 'ClusterCIDR', detectLocal: { bridgeInterface: 'cbr0' } })([]).podInterface).toBeNull();
    expect(problemsOf(() => withFile({ detectLocalMode: 'BridgeInterface', detectLocal: { interfaceNamePrefix: 'cali' } })([]))).toEqual([
      '--pod-bridge-interface / detectLocal.bridgeInterface: must be set when detectLocalMode is BridgeInterface',
    ]);
    expect(problemsOf(() => resolveConfig(['--detect-local-mode', 'InterfaceNamePrefix', '--pod-interface-name-prefix', 'cali*']))).toEqual([
      '--pod-interface-name-prefix / detectLocal.interfaceNamePrefix: "cali*" is not an interface name prefix',
    ]);
    // iptables' -i takes 15 characters, the prefix's + included; the kernel refuses ':' in names.
    expect(resolveConfig(['--detect-local-mode', 'InterfaceNamePrefix', '--pod-interface-name-prefix', 'a'.repeat(14)]).podInterface?.name).toHaveLength(14);
    expect(problemsOf(() => resolveConfig(['--detect-local-mode', 'InterfaceNamePrefix', '--pod-interface-name-prefix', 'a'.repeat(15)]))).toHaveLength(1);
    expect(resolveConfig(['--detect-local-mode', 'BridgeInterface', '--pod-bridge-interface', 'b'.repeat(15)]).podInterface?.name).toHaveLength(15);
    expect(problemsOf(() => resolveConfig(['--detect-local-mode', 'BridgeInterface', '--pod-bridge-interface', 'eth0:1']))).toHaveLength(1);
    expect(problemsOf(() => withFile({ detectLocalMode: 'PodCIDR' })([]))).toEqual(['--detect-local-mode / detectLocalMode: must be ClusterCIDR, NodeCIDR, BridgeInterface or InterfaceNamePrefix, got "PodCIDR"']);
  });

  it('unknown config keys are named with their path, all at once', () => {
    const problems = problemsOf(() => withFile({ mode: 'ebpf', ipvs: { schedular: 'rr' }, frobnicate: 1, iptables: { syncPeriod: 30 } })([]));
    expect(problems).toEqual([
      'cfg.yaml: ipvs.schedular: unknown field',
      'cfg.yaml: frobnicate: unknown field',
      'cfg.yaml: iptables.syncPeriod: must be a duration such as "30s", got number 30',
    ]);
  });

  it('bad values are named by flag and field', () => {
    const problems = problemsOf(() => resolveConfig([
      '--proxy-mode', 'kernelspace', '--cluster-cidr', '10.0.0.0/33', '--nodeport-addresses', 'primary,10.0.0.0/8',
      '--healthz-bind-address', 'localhost', '--ipvs-scheduler', 'fastest', '--bpf-pin-dir', 'relative', '--kubeconfig', '/k', '--manifests', '/m',
    ]));
    expect(problems).toEqual([
      '--proxy-mode / mode: must be one of auto, ebpf, ipvs, nftables, iptables, userspace; got "kernelspace"',
      '--cluster-cidr / clusterCIDR: "10.0.0.0/33" is not a CIDR',
      '--nodeport-addresses / nodePortAddresses: "primary" cannot be combined with CIDRs',
      '--healthz-bind-address / healthzBindAddress: must be host:port (e.g. 0.0.0.0:10256), got "localhost"',
      '--ipvs-scheduler / ipvs.scheduler: must be one of rr, wrr, lc, wlc, lblc, lblcr, sh, dh, sed, nq, mh; got "fastest"',
      '--bpf-pin-dir: must be an absolute path, got "relative"',
      '--kubeconfig and --manifests are two different sources: give one',
    ]);
  });

  it('unknown flags and malformed flag values', () => {
    expect(problemsOf(() => resolveConfig(['--proxy-mdoe', 'ebpf', '--masquerade-all=maybe', '--v', 'high', 'stray', '--kubeconfig']))).toEqual([
      'unknown flag --proxy-mdoe',
      'unexpected argument "ebpf"',
      '--masquerade-all takes true or false, got "maybe"',
      '--v takes an integer, got "high"',
      'unexpected argument "stray"',
      '--kubeconfig needs a value',
    ]);
  });

  it('wrong types in the file', () => {
    expect(problemsOf(() => withFile({ kind: 'Config', iptables: { masqueradeAll: 'yes' }, nodePortAddresses: 'primary', clientConnection: [] })([]))).toEqual([
      'cfg.yaml: iptables.masqueradeAll: must be true or false, got string "yes"',
      'cfg.yaml: nodePortAddresses: must be a list of strings, got string "primary"',
      'cfg.yaml: clientConnection: must be an object, got a list',
      'cfg.yaml: kind: must be KubeProxyConfiguration, got "Config"',
    ]);
  });

  it('featureGates and --feature-gates (Name=true,Other=false, repeatable): kube-proxy v1.35\'s gate names; the flag wins gate by gate', () => {
    expect(resolveConfig([]).featureGates).toEqual({});
    // A kubelet's or an API server's gate is known to kube-proxy too, and does nothing there, nor here.
    expect(withFile({ featureGates: { PreferSameTrafficDistribution: false, EventedPLEG: true, NodeSwap: true } })(['--feature-gates', 'PreferSameTrafficDistribution=true, InformerMetrics=T', '--feature-gates=AllAlpha=0']).featureGates)
      .toEqual({ PreferSameTrafficDistribution: true, EventedPLEG: true, NodeSwap: true, InformerMetrics: true, AllAlpha: false });
    // What kube-proxy v1.35 refuses (an unknown name, a locked gate against its lock) another
    // version may take: named at start, and ignored.
    const other = withFile({ featureGates: { Frobnicate: true, NFTablesProxyMode: false } })(['--feature-gates', 'AlsoUnknown=false,WatchFromStorageWithoutResourceVersion=true']);
    expect(unhonouredFeatureGates(other.featureGates).map((g) => g.reason)).toEqual([
      'unrecognized feature gate: Frobnicate (kube-proxy v1.35 would not start); ignored',
      'cannot set feature gate NFTablesProxyMode to false, feature is locked to true (kube-proxy v1.35 would not start); ignored',
      'unrecognized feature gate: AlsoUnknown (kube-proxy v1.35 would not start); ignored',
      'cannot set feature gate WatchFromStorageWithoutResourceVersion to true, feature is locked to false (kube-proxy v1.35 would not start); ignored',
    ]);
    expect(problemsOf(() => resolveConfig(['--feature-gates', 'PreferSameTrafficDistribution', '--feature-gates', 'NodeSwap=yes']))).toEqual([
      '--feature-gates takes Name=true,Other=false, got "PreferSameTrafficDistribution"',
      '--feature-gates: NodeSwap takes true or false, got "yes"',
    ]);
  });

  it('PreferSameTrafficDistribution=false turns off node hints, as kube-proxy before v1.35 (which locks it on); gates kube-proxy reads and we do not implement are named', () => {
    expect(preferSameNode(resolveConfig([]))).toBe(true);
    expect(preferSameNode(resolveConfig(['--feature-gates', 'PreferSameTrafficDistribution=false']))).toBe(false);
    expect(preferSameNode(withFile({ featureGates: { PreferSameTrafficDistribution: true } })([]))).toBe(true);
    expect(unhonouredFeatureGates({ PreferSameTrafficDistribution: false, ComponentFlagz: false, ComponentStatusz: true, WatchListClient: false, NodeSwap: true, EventedPLEG: true }))
      .toEqual([
        { gate: 'ComponentStatusz', value: true, reason: 'the /flagz and /statusz pages are not served' },
        { gate: 'WatchListClient', value: false, reason: 'the API client is not client-go' },
      ]);
  });

  // kube-proxy v1.35's cmd/kube-proxy/app/options.go on Linux, with component-base's logging flags it
  // adds.
  const KUBE_PROXY_FLAGS = [
    'config', 'write-config-to', 'cleanup', 'feature-gates', 'kubeconfig', 'master', 'kube-api-content-type', 'kube-api-burst',
    'kube-api-qps', 'hostname-override', 'bind-address', 'healthz-bind-address', 'metrics-bind-address', 'bind-address-hard-fail',
    'profiling', 'show-hidden-metrics-for-version', 'init-only', 'proxy-mode', 'iptables-masquerade-bit', 'masquerade-all',
    'iptables-localhost-nodeports', 'iptables-sync-period', 'iptables-min-sync-period', 'ipvs-sync-period', 'ipvs-min-sync-period',
    'ipvs-scheduler', 'ipvs-exclude-cidrs', 'ipvs-strict-arp', 'ipvs-tcp-timeout', 'ipvs-tcpfin-timeout', 'ipvs-udp-timeout',
    'detect-local-mode', 'pod-bridge-interface', 'pod-interface-name-prefix', 'cluster-cidr', 'nodeport-addresses', 'oom-score-adj',
    'conntrack-max-per-core', 'conntrack-min', 'conntrack-tcp-timeout-established', 'conntrack-tcp-timeout-close-wait',
    'conntrack-tcp-be-liberal', 'conntrack-udp-timeout', 'conntrack-udp-timeout-stream', 'config-sync-period',
    'logging-format', 'log-flush-frequency', 'v', 'vmodule', 'log-text-split-stream', 'log-text-info-buffer-size',
    'log-json-split-stream', 'log-json-info-buffer-size', 'healthz-port', 'metrics-port',
  ];

  it('the deprecated --healthz-port and --metrics-port: 0 turns the server off; another port completes a bind address given as an IP alone, as kube-proxy\'s', () => {
    expect(resolveConfig(['--healthz-bind-address', '0.0.0.0']).healthzBindAddress).toBe('0.0.0.0:10256');
    expect(resolveConfig(['--healthz-bind-address', '10.0.0.1', '--healthz-port', '12345']).healthzBindAddress).toBe('10.0.0.1:12345');
    expect(resolveConfig(['--metrics-bind-address', '::1', '--metrics-port=9999']).metricsBindAddress).toBe('[::1]:9999');
    // A bind address with its port (the default's too) keeps it.
    expect(resolveConfig(['--healthz-port', '12345']).healthzBindAddress).toBe('0.0.0.0:10256');
    expect(resolveConfig(['--metrics-bind-address', '0.0.0.0:10249', '--metrics-port', '9999']).metricsBindAddress).toBe('0.0.0.0:10249');
    expect(resolveConfig(['--metrics-port', '0']).metricsBindAddress).toBe('');
    expect(resolveConfig(['--healthz-port', '0', '--healthz-bind-address', '0.0.0.0:10256']).healthzBindAddress).toBe('');
    expect(() => resolveConfig(['--healthz-port', '70000'])).toThrow('--healthz-port: must be 0-65535, got 70000');
    expect(deprecatedFlags(['--healthz-port', '0', '--v', '2'])).toEqual([{ flag: '--healthz-port', use: '--healthz-bind-address' }]);
  });

  it('every flag of kube-proxy\'s is a flag of run: a kube-proxy DaemonSet\'s args start it', () => {
    expect(KUBE_PROXY_FLAGS.filter((f) => !Object.hasOwn(RUN_FLAGS, f))).toEqual([]);
  });

  // Each: the flag, the file that sets the same field otherwise, the field, its value from the
  // flag and from the file alone; a bad value and its problem.
  const FIELD_FLAGS: { argv: string[]; file: Record<string, unknown>; read: (c: ProxyConfig) => unknown; flag: unknown; file_: unknown; bad: string[]; problem: string }[] = [
    {
      argv: ['--kube-api-content-type', 'application/vnd.kubernetes.protobuf'], file: { clientConnection: { contentType: 'application/json' } },
      read: (c) => c.contentType, flag: 'application/vnd.kubernetes.protobuf', file_: 'application/json',
      bad: ['--kube-api-content-type', 'text/plain'], problem: '--kube-api-content-type / clientConnection.contentType: must be application/vnd.kubernetes.protobuf or application/json, got "text/plain"',
    },
    {
      argv: ['--kube-api-qps', '50.5'], file: { clientConnection: { qps: 20 } }, read: (c) => c.qps, flag: 50.5, file_: 20,
      bad: ['--kube-api-qps=-1'], problem: '--kube-api-qps / clientConnection.qps: must not be negative, got -1',
    },
    {
      argv: ['--kube-api-burst', '100'], file: { clientConnection: { burst: 20 } }, read: (c) => c.burst, flag: 100, file_: 20,
      bad: ['--kube-api-burst', '-1'], problem: '--kube-api-burst / clientConnection.burst: must not be negative, got -1',
    },
    {
      argv: ['--iptables-masquerade-bit', '16'], file: { iptables: { masqueradeBit: 15 } }, read: (c) => c.masqueradeBit, flag: 16, file_: 15,
      bad: ['--iptables-masquerade-bit', '32'], problem: '--iptables-masquerade-bit / iptables.masqueradeBit: must be 0-31, got 32',
    },
    {
      argv: ['--ipvs-strict-arp=false'], file: { ipvs: { strictARP: true } }, read: (c) => c.ipvsStrictARP, flag: false, file_: true,
      bad: ['--ipvs-strict-arp=maybe'], problem: '--ipvs-strict-arp takes true or false, got "maybe"',
    },
    {
      // A per-core size of 0 leaves the kernel's nf_conntrack_max (and takes no minimum).
      argv: ['--conntrack-max-per-core', '1'], file: { conntrack: { maxPerCore: 0, min: 1000 } },
      read: (c) => [c.conntrackMax, c.conntrack.setMax], flag: [1000, true], file_: [1000, false],
      bad: ['--conntrack-max-per-core', '-1'], problem: '--conntrack-max-per-core / conntrack.maxPerCore: must be an integer from 0 to 2147483647, got -1',
    },
    {
      argv: ['--conntrack-min', '2000'], file: { conntrack: { maxPerCore: 1, min: 1000 } }, read: (c) => c.conntrackMax, flag: 2000, file_: 1000,
      bad: ['--conntrack-min', '2147483648'], problem: '--conntrack-min / conntrack.min: must be an integer from 0 to 2147483647, got 2147483648',
    },
    {
      argv: ['--conntrack-tcp-timeout-established', '2h'], file: { conntrack: { tcpEstablishedTimeout: '1h' } },
      read: (c) => c.conntrack.tcpEstablishedTimeoutMs, flag: 7_200_000, file_: 3_600_000,
      bad: ['--conntrack-tcp-timeout-established', '-1s'], problem: '--conntrack-tcp-timeout-established / conntrack.tcpEstablishedTimeout: "-1s" is not a duration of 0s or more',
    },
    {
      argv: ['--conntrack-tcp-timeout-close-wait=30m'], file: { conntrack: { tcpCloseWaitTimeout: '2h' } },
      read: (c) => c.conntrack.tcpCloseWaitTimeoutMs, flag: 1_800_000, file_: 7_200_000,
      bad: ['--conntrack-tcp-timeout-close-wait', '1 h'], problem: '--conntrack-tcp-timeout-close-wait / conntrack.tcpCloseWaitTimeout: "1 h" is not a duration of 0s or more',
    },
    {
      argv: ['--conntrack-tcp-be-liberal=false'], file: { conntrack: { tcpBeLiberal: true } }, read: (c) => c.conntrack.tcpBeLiberal, flag: false, file_: true,
      bad: ['--conntrack-tcp-be-liberal=yes'], problem: '--conntrack-tcp-be-liberal takes true or false, got "yes"',
    },
    {
      argv: ['--conntrack-udp-timeout', '1m'], file: { conntrack: { udpTimeout: '45s' } }, read: (c) => c.conntrack.udpTimeoutGivenMs, flag: 60_000, file_: 45_000,
      bad: ['--conntrack-udp-timeout', 'soon'], problem: '--conntrack-udp-timeout / conntrack.udpTimeout: "soon" is not a duration of 0s or more',
    },
    {
      argv: ['--conntrack-udp-timeout-stream', '3m'], file: { conntrack: { udpStreamTimeout: '2m' } }, read: (c) => c.conntrack.udpStreamTimeoutMs, flag: 180_000, file_: 120_000,
      bad: ['--conntrack-udp-timeout-stream', '-2m'], problem: '--conntrack-udp-timeout-stream / conntrack.udpStreamTimeout: "-2m" is not a duration of 0s or more',
    },
  ];

  it.each(FIELD_FLAGS)('$argv.0 sets what its file key sets, wins over the file, and a bad value is named', ({ argv, file, read, flag, file_, bad, problem }) => {
    expect(read(withFile(file)(argv))).toEqual(flag);
    expect(read(withFile(file)([]))).toEqual(file_);
    expect(problemsOf(() => resolveConfig(bad))).toEqual([problem]);
  });

  it('kube-proxy\'s flags as it reads them: the masquerade bit flag is the iptables section\'s; conntrack\'s 0s leaves the kernel\'s; Go\'s booleans; a repeated list adds', () => {
    // As kube-proxy, nftables mode takes its own section's bit, the flag's is only checked.
    expect(withFile({ mode: 'nftables', nftables: { masqueradeBit: 16 } })(['--iptables-masquerade-bit', '15']).masqueradeBit).toBe(16);
    expect(problemsOf(() => resolveConfig(['--proxy-mode', 'nftables', '--iptables-masquerade-bit', '-1']))).toEqual(['--iptables-masquerade-bit / iptables.masqueradeBit: must be 0-31, got -1']);
    expect(resolveConfig(['--conntrack-tcp-timeout-established', '0s', '--conntrack-tcp-timeout-close-wait', '0']).conntrack)
      .toMatchObject({ keepKernelTcpEstablished: true, keepKernelTcpCloseWait: true });
    // A file's bad value is named by file, as before; a flag's by flag and field.
    expect(problemsOf(() => withFile({ iptables: { masqueradeBit: 40 }, conntrack: { udpTimeout: '-1s' } })([]))).toEqual([
      'cfg.yaml: iptables.masqueradeBit: must be 0-31, got 40',
      'cfg.yaml: conntrack.udpTimeout: "-1s" is not a duration of 0s or more',
    ]);
    expect(resolveConfig(['--ipvs-strict-arp=1', '--masquerade-all=T', '--conntrack-tcp-be-liberal=0'])).toMatchObject({ ipvsStrictARP: true, masqueradeAll: true });
    expect(resolveConfig(['--nodeport-addresses', '10.0.0.0/8', '--nodeport-addresses=192.168.0.0/16']).nodePortAddresses).toEqual(['10.0.0.0/8', '192.168.0.0/16']);
    // --content-type is ours, --kube-api-content-type kube-proxy's: the same setting.
    expect(resolveConfig(['--content-type', 'application/json', '--kube-api-content-type', 'application/json']).contentType).toBe('application/json');
    expect(problemsOf(() => resolveConfig(['--content-type', 'application/json', '--kube-api-content-type', 'application/vnd.kubernetes.protobuf'])))
      .toEqual(['--content-type and --kube-api-content-type are one setting: give one']);
    // 0 is client-go's default, as in the file.
    expect(resolveConfig(['--kube-api-qps', '0', '--kube-api-burst', '0'])).toMatchObject({ qps: 5, burst: 10 });
    expect(problemsOf(() => resolveConfig(['--kube-api-qps', 'fast']))).toEqual(['--kube-api-qps takes a number, got "fast"']);
    // --master: the API server over the kubeconfig's (sources/kubernetes, loadKubeConfig).
    expect(resolveConfig(['--master', 'https://10.0.0.1:6443']).master).toBe('https://10.0.0.1:6443');
    expect(resolveConfig(['--master', '']).master).toBeNull();
    expect(problemsOf(() => resolveConfig(['--master', '10.0.0.1']))).toEqual(['--master: must be the API server\'s URL (https://host:port), got "10.0.0.1"']);
  });

  // Each: a good value and the no-op one (kube-proxy's default: no warning), a bad value and its problem.
  const UNHONOURED: { argv: string[]; noOp: string[] | null; reason: string | null; bad: string[]; problem: string }[] = [
    {
      argv: ['--ipvs-exclude-cidrs', '10.0.0.0/8,fd00::/64'], noOp: null, reason: null,
      bad: ['--ipvs-exclude-cidrs', '10.0.0.0/33'], problem: '--ipvs-exclude-cidrs / ipvs.excludeCIDRs: "10.0.0.0/33" is not a CIDR',
    },
    {
      argv: ['--config-sync-period', '1m'], noOp: ['--config-sync-period', '15m0s'], reason: 'watched objects are not replayed from a cache: the periodic full sync is the sync period\'s',
      bad: ['--config-sync-period', '0s'], problem: '--config-sync-period / configSyncPeriod: "0s" is not a duration above 0s',
    },
    {
      argv: ['--show-hidden-metrics-for-version', '1.34'], noOp: ['--show-hidden-metrics-for-version='], reason: 'no metric is hidden',
      bad: ['--show-hidden-metrics-for-version', 'v1.34'], problem: '--show-hidden-metrics-for-version / showHiddenMetricsForVersion: must be <major>.<minor> (e.g. 1.34), got "v1.34"',
    },
    {
      argv: ['--profiling'], noOp: ['--profiling=false'], reason: '/debug/pprof is not served',
      bad: ['--profiling=on'], problem: '--profiling takes true or false, got "on"',
    },
    {
      argv: ['--init-only'], noOp: ['--init-only=false'], reason: 'run sets the node up at every start, with the privileges it has: there is nothing to do ahead, and it exits at once',
      bad: ['--init-only=2'], problem: '--init-only takes true or false, got "2"',
    },
    {
      argv: ['--log-flush-frequency', '10s'], noOp: ['--log-flush-frequency', '5s'], reason: 'log lines are written as they come: none waits for a flush',
      bad: ['--log-flush-frequency', '10'], problem: '--log-flush-frequency: "10" is not a duration of 0s or more',
    },
    {
      argv: ['--vmodule', 'proxier*=4,server=2'], noOp: ['--vmodule='], reason: 'verbosity is one level for the whole process (--v)',
      bad: ['--vmodule', 'proxier'], problem: '--vmodule: takes pattern=N,…, got "proxier"',
    },
    {
      argv: ['--log-text-split-stream'], noOp: ['--log-text-split-stream=false'], reason: 'every log line goes to stderr',
      bad: ['--log-text-split-stream=stderr'], problem: '--log-text-split-stream takes true or false, got "stderr"',
    },
    {
      argv: ['--log-json-split-stream=true'], noOp: ['--log-json-split-stream=F'], reason: 'every log line goes to stderr',
      bad: ['--log-json-split-stream=2'], problem: '--log-json-split-stream takes true or false, got "2"',
    },
    {
      argv: ['--log-text-info-buffer-size', '2Ki'], noOp: ['--log-text-info-buffer-size', '0'], reason: 'log lines are not buffered',
      bad: ['--log-text-info-buffer-size', '2 KiB'], problem: '--log-text-info-buffer-size: must be a quantity such as 512, 2Ki or 3M, got "2 KiB"',
    },
    {
      argv: ['--log-json-info-buffer-size', '1M'], noOp: ['--log-json-info-buffer-size', '0Mi'], reason: 'log lines are not buffered',
      bad: ['--log-json-info-buffer-size', 'lots'], problem: '--log-json-info-buffer-size: must be a quantity such as 512, 2Ki or 3M, got "lots"',
    },
  ];

  it.each(UNHONOURED)('$argv.0, for what we do not have: accepted, named at start (but at kube-proxy\'s default), a bad value named', ({ argv, noOp, reason, bad, problem }) => {
    expect(() => resolveConfig(argv)).not.toThrow();
    expect(unhonouredFlags(argv).map((f) => f.reason)).toEqual(reason === null ? [] : [reason]);
    if (noOp) expect(unhonouredFlags(noOp)).toEqual([]);
    expect(problemsOf(() => resolveConfig(bad))).toEqual([problem]);
  });

  it('the file\'s keys for what we do not have are checked as kube-proxy checks them, and a flag wins over a bad one', () => {
    expect(problemsOf(() => withFile({ ipvs: { excludeCIDRs: ['10.0.0.0/8', 'lan'] }, configSyncPeriod: '-1m', showHiddenMetricsForVersion: '1' })([]))).toEqual([
      '--ipvs-exclude-cidrs / ipvs.excludeCIDRs: "lan" is not a CIDR',
      '--config-sync-period / configSyncPeriod: "-1m" is not a duration above 0s',
      '--show-hidden-metrics-for-version / showHiddenMetricsForVersion: must be <major>.<minor> (e.g. 1.34), got "1"',
    ]);
    expect(() => withFile({ ipvs: { excludeCIDRs: ['lan'] }, configSyncPeriod: '-1m', showHiddenMetricsForVersion: '1' })([
      '--ipvs-exclude-cidrs', '10.0.0.0/8', '--config-sync-period', '1m', '--show-hidden-metrics-for-version', '1.34',
    ])).not.toThrow();
    // The file's 0s is the default, as kube-proxy's defaulting reads it.
    expect(() => withFile({ configSyncPeriod: '0s' })([])).not.toThrow();
  });

  it('--init-only and --write-config-to: kube-proxy does something and exits; run exits too (see run.ts)', () => {
    expect(resolveConfig(['--init-only', '--write-config-to', '/tmp/kube-proxy.yaml'])).toMatchObject({ initOnly: true, writeConfigTo: '/tmp/kube-proxy.yaml' });
    expect(resolveConfig(['--write-config-to='])).toMatchObject({ initOnly: false, writeConfigTo: null });
  });

  it('a missing or unparsable config file', () => {
    expect(problemsOf(() => resolveConfig(['--config', '/nonexistent.yaml']))[0]).toMatch(/^--config \/nonexistent.yaml: ENOENT/);
  });
});

describe('parseDuration', () => {
  it.each([
    ['30s', 30_000], ['1m0s', 60_000], ['1h30m', 5_400_000], ['250ms', 250], ['0s', 0], ['0', 0], ['1.5s', 1500],
  ])('%s = %d ms', (s, ms) => expect(parseDuration(s)).toBe(ms));
  it.each(['', '30', 's', '1x', '1s ', '-1s'])('%j is not a duration', (s) => expect(parseDuration(s)).toBeNull());
  it.each([['.5s', 500], ['1.s', 1000], ['+2m', 120_000], ['1500\u00b5s', 1.5], ['1500\u03bcs', 1.5], ['-0s', 0]])('%s = %d ms, as Go reads it', (s, ms) => expect(parseDuration(s)).toBe(ms));
});
