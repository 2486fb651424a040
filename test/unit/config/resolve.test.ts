import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, DEFAULTS, parseDuration, podRanges, preferSameNode, resolveConfig, unhonouredFeatureGates } from '../../../src/config/index.js';

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
