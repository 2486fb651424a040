import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { attachTc, BpfObject, packageRoot, withNetns } from '../../src/native/index.js';
import { mountPrivateBpffs, type PrivateBpffs } from '../support/bpffs.js';
import { kernelIt } from '../support/capability.js';
import { createTestCgroup, type TestCgroup } from '../support/cgroup.js';
import { TestNetns } from '../support/netns.js';
import { run } from '../support/sys.js';

const it = kernelIt();
const BIN = join(packageRoot(), 'bin', 'ebpf-kube-proxy.js');

/** Polls `ok` every `everyMs` until it holds; past `ms`, fails with the message `failure` gives. */
async function until(ok: () => boolean, ms: number, failure: () => string, everyMs = 100): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(failure());
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/**
 * `run ARGS` in a test namespace, with pins and a cgroup of its own under `dir` (which is also
 * its manifests directory), so that nothing of the machine's is named; stderr is collected.
 * stop() ends it with SIGTERM and runs --cleanup there.
 */
function daemonIn(ns: TestNetns, dir: string, args: string[], env: NodeJS.ProcessEnv = process.env) {
  const own = ['--manifests', dir, '--bpf-pin-dir', join(dir, 'no-pins'), '--cgroup-root', join(dir, 'no-cgroup')];
  const child = spawn('nsenter', [`--net=${ns.path}`, '--', process.execPath, BIN, 'run', ...args, ...own], { stdio: ['ignore', 'ignore', 'pipe'], env });
  const d = {
    log: '',
    /** The daemon's own (nsenter execs it). */
    pid: child.pid!,
    async stop(): Promise<void> {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
      spawnSync('nsenter', [`--net=${ns.path}`, '--', process.execPath, BIN, 'run', '--cleanup', ...own]);
    },
  };
  child.stderr.setEncoding('utf8').on('data', (x: string) => { d.log += x; });
  return d;
}

describe('ebpf-kube-proxy run: bad input stops it before the kernel is touched', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'ekpt-run-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const runCli = (...args: string[]) => spawnSync(process.execPath, [BIN, 'run', ...args], { encoding: 'utf8', timeout: 20_000 });

  it('unknown flags and bad values: exit 2 with every problem named', () => {
    const r = runCli('--proxy-mode', 'fastest', '--frobnicate', '--healthz-bind-address', 'nowhere');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/invalid configuration/);
    expect(r.stderr).toMatch(/unknown flag --frobnicate/);
  });

  it('an unknown key in the KubeProxyConfiguration: exit 2 naming the key', () => {
    const cfg = join(dir, 'bad.yaml');
    writeFileSync(cfg, 'apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nmode: ebpf\nipvs:\n  schedular: rr\n');
    const r = runCli('--config', cfg, '--bpf-pin-dir', join(dir, 'pins'));
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/ipvs\.schedular: unknown field/);
    expect(existsSync(join(dir, 'pins'))).toBe(false);
  });
});

describe('ebpf-kube-proxy run --cleanup', () => {
  let fs: PrivateBpffs;
  let ns: TestNetns;
  let cg: TestCgroup;
  let manifests: string;
  beforeAll(() => {
    fs = mountPrivateBpffs();
    ns = TestNetns.create('cleanup');
    ns.ip('link', 'add', 'ekpt0', 'type', 'veth', 'peer', 'name', 'ekpt1');
    ns.ip('addr', 'add', '192.168.99.1/24', 'dev', 'ekpt0');
    ns.ip('link', 'set', 'ekpt0', 'up');
    ns.ip('link', 'set', 'ekpt1', 'up');
    cg = createTestCgroup('cleanup');
    manifests = mkdtempSync(join(tmpdir(), 'ekpt-manifests-'));
  });
  afterAll(() => {
    ns?.destroy();
    cg?.dispose();
    fs?.dispose();
    rmSync(manifests, { recursive: true, force: true });
  });

  it('a --cgroup-root outside cgroup v2 (a plain directory): exit 1 naming it, with nothing loaded or attached', () => {
    // The kernel's own answer would come after tc is attached: EBADF and "Exclusivity flag on".
    const pins = join(fs.path, 'bad-cgroup');
    const r = spawnSync('nsenter', [`--net=${ns.path}`, '--', process.execPath, BIN, 'run', '--proxy-mode', 'ebpf', '--manifests', manifests, '--bpf-pin-dir', pins,
      '--cgroup-root', manifests, '--healthz-bind-address', '', '--metrics-bind-address', ''], { encoding: 'utf8', timeout: 30_000 });
    expect(r.status, r.stderr).toBe(1);
    expect(r.stderr).toContain(`--cgroup-root ${manifests}: not in a cgroup v2 file system`);
    expect(r.stderr).toMatch(/the cgroup v2 mount here is \//);
    expect(existsSync(pins) ? readdirSync(pins) : []).toEqual([]);
    expect(ns.exec(['tc', 'filter', 'show', 'dev', 'ekpt0', 'ingress'])).not.toMatch(/tc_ingress/);
  });

  it('removes our programs from every device and the cgroup, and our pins; leaves others alone', async () => {
    const pins = join(fs.path, 'node');
    // ekpt0 is a veth, where the default leaves XDP off: on, so that cleanup has XDP to remove.
    const flags = ['--manifests', manifests, '--bpf-pin-dir', pins, '--cgroup-root', cg.path, '--healthz-bind-address', '', '--metrics-bind-address', '', '--bpf-xdp', 'on'];
    const daemon = spawn('nsenter', [`--net=${ns.path}`, '--', process.execPath, BIN, 'run', ...flags], { stdio: 'ignore' });
    try {
      const ingress = (dev: string) => ns.exec(['tc', 'filter', 'show', 'dev', dev, 'ingress']);
      await until(() => /tc_ingress/.test(ingress('ekpt0')) && existsSync(join(pins, 'ekp_svc_v1')), 20_000, () => 'the daemon did not attach');
      // A pod veth that appears while the daemon runs is attached within a couple of seconds.
      ns.ip('link', 'add', 'ekptlate0', 'type', 'veth', 'peer', 'name', 'ekptlate1');
      ns.ip('link', 'set', 'ekptlate0', 'up');
      ns.ip('link', 'set', 'ekptlate1', 'up');
      await until(() => /tc_ingress/.test(ingress('ekptlate0')), 5000, () => 'a veth created after start was not attached');
      // A pod restarted under the same name gets a veth of the same name and a new ifindex.
      ns.ip('link', 'del', 'ekptlate0');
      ns.ip('link', 'add', 'ekptlate0', 'type', 'veth', 'peer', 'name', 'ekptlate1');
      ns.ip('link', 'set', 'ekptlate0', 'up');
      await until(() => /tc_ingress/.test(ingress('ekptlate0')), 5000, () => 'a veth recreated under the same name was not attached');
      // A device's role follows its address at once (a link watch), not at the 30 s full listing:
      // given a global address it is a node device (tc_egress, and XDP, which is on here); without
      // one, a pod's again.
      const roleIs = (egress: RegExp, xdp: boolean, what: string) => until(
        () => egress.test(ns.exec(['tc', 'filter', 'show', 'dev', 'ekptlate0', 'egress'])) && /xdp/.test(ns.exec(['ip', 'link', 'show', 'ekptlate0'])) === xdp,
        5000, () => `ekptlate0 did not become ${what}`);
      await roleIs(/tc_to_pod/, false, 'a pod device');
      ns.ip('addr', 'add', '192.168.98.1/24', 'dev', 'ekptlate0');
      await roleIs(/tc_egress/, true, 'a node device once given an address');
      ns.ip('addr', 'del', '192.168.98.1/24', 'dev', 'ekptlate0');
      await roleIs(/tc_to_pod/, false, 'a pod device again once its address went');
    } finally {
      daemon.kill('SIGTERM');
      await new Promise((r) => daemon.once('exit', r));
    }
    // SIGTERM leaves the datapath in place.
    expect(ns.exec(['tc', 'filter', 'show', 'dev', 'ekpt0', 'ingress'])).toMatch(/tc_ingress/);
    expect(ns.exec(['ip', 'link', 'show', 'ekpt0'])).toMatch(/xdp/);
    // A user's own filter at another priority must survive the cleanup.
    const theirs = BpfObject.open(join(packageRoot(), 'build', 'Release', 'bpf', 'native_fixture.bpf.o'), { pinRoot: fs.path }).load();
    withNetns(ns.path, () => attachTc(theirs.program('fx_tc'), 'ekpt0', 'ingress', { priority: 7, handle: 1 }));
    theirs.close();

    const r = spawnSync('nsenter', [`--net=${ns.path}`, '--', process.execPath, BIN, 'run', '--cleanup', ...flags], { encoding: 'utf8', timeout: 20_000 });
    expect(r.status, r.stderr).toBe(0);
    const filters = ns.exec(['tc', 'filter', 'show', 'dev', 'ekpt0', 'ingress']);
    expect(filters).not.toMatch(/tc_ingress/);
    expect(filters).toMatch(/fx_tc/);
    expect(ns.exec(['tc', 'filter', 'show', 'dev', 'ekpt0', 'egress'])).not.toMatch(/tc_egress/);
    expect(ns.exec(['ip', 'link', 'show', 'ekpt0'])).not.toMatch(/xdp/);
    expect(run(['bpftool', 'cgroup', 'show', cg.path])).not.toMatch(/sock_/);
    expect(existsSync(pins)).toBe(false);
  }, 60_000);
});

describe('auto mode falls back when the BPF probe fails', () => {
  let ns: TestNetns;
  let manifests: string;
  beforeAll(() => {
    ns = TestNetns.create('auto');
    // An address the Node object does not list, as a second NIC's usually is not.
    ns.ip('link', 'add', 'ekpt0', 'type', 'veth', 'peer', 'name', 'ekpt1');
    ns.ip('addr', 'add', '10.77.0.1/24', 'dev', 'ekpt0');
    ns.ip('link', 'set', 'ekpt0', 'up');
    ns.ip('link', 'set', 'ekpt1', 'up');
    manifests = mkdtempSync(join(tmpdir(), 'ekpt-manifests-'));
  });
  afterAll(() => {
    ns?.destroy();
    rmSync(manifests, { recursive: true, force: true });
  });

  it('picks nftables (this kernel has no IP_VS), programs it, and says so on /proxyMode; names a bad field of its own Node object only; serves NodePorts on the interfaces\' addresses', async () => {
    // Two Nodes: this one (n1) with an address that is not one, and another whose name it must not take.
    const node = (name: string, address: string) => ({ apiVersion: 'v1', kind: 'Node', metadata: { name }, status: { addresses: [{ type: 'InternalIP', address }] } });
    writeFileSync(join(manifests, 'nodes.json'), JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [node('n1', 'not-an-ip'), node('n2', '10.9.9.9')] }));
    writeFileSync(join(manifests, 'np.json'), JSON.stringify({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'np', namespace: 'default' },
      spec: { type: 'NodePort', clusterIP: '10.96.7.7', clusterIPs: ['10.96.7.7'], ports: [{ port: 80, nodePort: 30777, protocol: 'TCP' }] } }));
    // Pins and cgroup of its own, so that removing other modes' state touches nothing of the machine's.
    const daemon = daemonIn(ns, manifests, ['--proxy-mode', 'auto', '--healthz-bind-address', '', '--metrics-bind-address', '127.0.0.1:10249', '--hostname-override', 'n1'],
      { ...process.env, EKP_PROBE_DISABLE_BPF: '1' });
    try {
      const deadline = Date.now() + 20_000;
      let mode = '';
      while (mode !== 'nftables') {
        if (Date.now() > deadline) throw new Error(`no nftables mode on /proxyMode; log:\n${daemon.log}`);
        await new Promise((r) => setTimeout(r, 200));
        mode = ns.tryExec([process.execPath, '-e', "require('http').get('http://127.0.0.1:10249/proxyMode',r=>r.pipe(process.stdout)).on('error',()=>{})"]).stdout.trim();
      }
      // stderr to a pipe is asynchronous in Node: the line may trail the HTTP answer.
      while (!/"mode":"nftables"/.test(daemon.log) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(daemon.log).toMatch(/"mode":"nftables"/);
      expect(daemon.log).toMatch(/BPF disabled by EKP_PROBE_DISABLE_BPF/);
      // kube-proxy's oomScoreAdj default, so that the OOM killer takes the node's proxy last: set, or
      // (without CAP_SYS_RESOURCE, as in this machine's container) refused and said, and the proxy goes on.
      if (readFileSync(`/proc/${daemon.pid}/oom_score_adj`, 'utf8').trim() !== '-999') expect(daemon.log).toMatch(/cannot set oom_score_adj","oomScoreAdj":-999/);
      // /proxyMode answers once the mode is chosen, which is before the first sync has written the table.
      const ruleset = () => ns.exec(['nft', 'list', 'ruleset']);
      while (!/10\.77\.0\.1 \. tcp \. 30777/.test(ruleset()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect(ns.exec(['nft', 'list', 'tables'])).toMatch(/ekp-proxy/);
      // The Node object names no usable address: the interface's serves the NodePort anyway.
      expect(ruleset()).toMatch(/10\.77\.0\.1 \. tcp \. 30777/);
      // An address that comes later serves the NodePort within seconds, not at the next periodic
      // sync (30 s); one that goes stops serving it as soon.
      const served = (present: boolean, what: string) =>
        until(() => /10\.78\.0\.1 \. tcp \. 30777/.test(ruleset()) === present, 5000, () => `${what}; log:\n${daemon.log}`);
      ns.ip('addr', 'add', '10.78.0.1/24', 'dev', 'ekpt0');
      await served(true, 'a new address did not serve the NodePort');
      ns.ip('addr', 'del', '10.78.0.1/24', 'dev', 'ekpt0');
      await served(false, 'a removed address still served the NodePort');
      while (!/Node field ignored/.test(daemon.log) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      const said = daemon.log.split('\n').filter((l) => /Node/.test(l) && /ignored|unusable/.test(l));
      expect(said).toHaveLength(1);
      expect(said[0]).toMatch(/"object":"Node n1".*"field":"status\.addresses\[0\]\.address"/);
    } finally {
      await daemon.stop();
    }
    expect(ns.exec(['nft', 'list', 'tables'])).not.toMatch(/ekp-proxy/);
  }, 60_000);
});

describe('switching modes', () => {
  let ns: TestNetns;
  let dir: string;
  beforeAll(() => {
    ns = TestNetns.create('switch');
    dir = mkdtempSync(join(tmpdir(), 'ekpt-switch-'));
  });
  afterAll(() => {
    ns?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  async function runUntilServing(mode: string): Promise<void> {
    const daemon = spawn('nsenter', [`--net=${ns.path}`, '--', process.execPath, BIN, 'run', '--proxy-mode', mode, '--manifests', dir,
      '--healthz-bind-address', '', '--metrics-bind-address', '127.0.0.1:10249',
      '--bpf-pin-dir', join(dir, 'no-pins'), '--cgroup-root', join(dir, 'no-cgroup')], { stdio: 'ignore' });
    try {
      // Synced, and with the conntrack reconciler's histogram (a dataplane's own, registered by run.ts).
      const probe = "require('http').get('http://127.0.0.1:10249/metrics',r=>{let d='';r.on('data',c=>d+=c);r.on('end',()=>process.stdout.write(/kubeproxy_sync_proxy_rules_last_timestamp_seconds [1-9]/.test(d)?'synced'+(/# TYPE kubeproxy_conntrack_reconciler_sync_duration_seconds histogram/.test(d)?' reconciler':''):''))}).on('error',()=>{})";
      let seen = '';
      await until(() => (seen = ns.tryExec([process.execPath, '-e', probe]).stdout.trim()).startsWith('synced'), 20_000, () => `${mode} never synced`, 200);
      expect(seen).toBe('synced reconciler');
    } finally {
      daemon.kill('SIGTERM');
      await new Promise((r) => daemon.once('exit', r));
    }
  }

  it('a mode that starts removes what the previous mode left (nftables, then iptables), and upstream kube-proxy\'s nftables tables', async () => {
    // As kube-proxy's nftables mode leaves them: a DNAT at prerouting, our priority.
    for (const f of ['ip', 'ip6']) {
      ns.exec(['nft', 'add', 'table', f, 'kube-proxy']);
      ns.exec(['nft', 'add', 'chain', f, 'kube-proxy', 'nat-prerouting', '{ type nat hook prerouting priority -100 ; }']);
    }
    await runUntilServing('nftables');
    expect(ns.exec(['nft', 'list', 'tables'])).not.toMatch(/kube-proxy/);
    expect(ns.exec(['nft', 'list', 'tables'])).toMatch(/ekp-proxy/); // SIGTERM left it serving
    await runUntilServing('iptables');
    expect(ns.exec(['nft', 'list', 'tables'])).not.toMatch(/ekp-proxy/);
    expect(ns.exec(['iptables-save', '-t', 'nat'])).toMatch(/KUBE-SERVICES/);
  }, 60_000);
});

describe('/healthz follows the Node: a node the cluster autoscaler is removing is drained', () => {
  let ns: TestNetns;
  let dir: string;
  beforeAll(() => {
    ns = TestNetns.create('eligible');
    dir = mkdtempSync(join(tmpdir(), 'ekpt-eligible-'));
  });
  afterAll(() => {
    ns?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('tainted ToBeDeletedByClusterAutoscaler: /healthz 503 with nodeEligible false, /livez 200; untainted: 200 again', async () => {
    const node = (taints: object[]) => JSON.stringify({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1' }, spec: { taints }, status: { addresses: [] } });
    writeFileSync(join(dir, 'node.json'), node([{ key: 'ToBeDeletedByClusterAutoscaler', value: '1763890000', effect: 'NoSchedule' }]));
    const daemon = daemonIn(ns, dir, ['--proxy-mode', 'nftables', '--hostname-override', 'n1', '--healthz-bind-address', '127.0.0.1:10256', '--metrics-bind-address', '']);
    const get = (path: string): { code: number; body: string } => {
      const script = `require('http').get('http://127.0.0.1:10256${path}',r=>{let d='';r.on('data',c=>d+=c);r.on('end',()=>process.stdout.write(JSON.stringify({code:r.statusCode,body:d})))}).on('error',()=>process.stdout.write('{"code":0,"body":""}'))`;
      return JSON.parse(ns.exec([process.execPath, '-e', script])) as { code: number; body: string };
    };
    const healthzUntil = (what: string, ok: () => boolean) => until(ok, 20_000, () => `${what}: /healthz ${JSON.stringify(get('/healthz'))}`, 200);
    try {
      await healthzUntil('synced', () => get('/livez').code === 200);
      const h = get('/healthz');
      expect(h.code).toBe(503);
      expect(JSON.parse(h.body)).toMatchObject({ nodeEligible: false });
      writeFileSync(join(dir, 'node.json'), node([]));
      await healthzUntil('eligible again', () => get('/healthz').code === 200);
      expect(JSON.parse(get('/healthz').body)).toMatchObject({ nodeEligible: true });
    } finally {
      await daemon.stop();
    }
  }, 60_000);
});

describe('conntrack settings in a netfilter mode, as kube-proxy applies them', () => {
  let ns: TestNetns;
  let dir: string;
  beforeAll(() => {
    ns = TestNetns.create('ctset');
    dir = mkdtempSync(join(tmpdir(), 'ekpt-ctset-'));
  });
  afterAll(() => {
    ns?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('timeouts and be_liberal set in its namespace; the table size, which only the host may set, named in a warning; the host untouched; oomScoreAdj from the same file', async () => {
    const sysctl = (name: string, inNs: boolean) => (inNs ? ns.exec(['cat', `/proc/sys/net/netfilter/${name}`]) : run(['cat', `/proc/sys/net/netfilter/${name}`])).trim();
    const names = ['nf_conntrack_tcp_timeout_established', 'nf_conntrack_tcp_timeout_close_wait', 'nf_conntrack_tcp_be_liberal', 'nf_conntrack_udp_timeout'];
    const host = names.map((n) => sysctl(n, false));
    // A size other than the one there now, so that it is written (and refused: the namespace is not the host's).
    const min = Number(sysctl('nf_conntrack_max', false)) + 1024;
    writeFileSync(join(dir, 'config.yaml'), [
      'apiVersion: kubeproxy.config.k8s.io/v1alpha1', 'kind: KubeProxyConfiguration', 'mode: nftables',
      'conntrack:', `  min: ${min}`, '  tcpEstablishedTimeout: 2h', '  tcpCloseWaitTimeout: 30m', '  tcpBeLiberal: true', '  udpTimeout: 45s', 'oomScoreAdj: 1000', '',
    ].join('\n'));
    const daemon = daemonIn(ns, dir, ['--config', join(dir, 'config.yaml'), '--hostname-override', 'n1', '--healthz-bind-address', '127.0.0.1:10256', '--metrics-bind-address', '']);
    try {
      const deadline = Date.now() + 20_000;
      await until(() => ns.exec(['nft', 'list', 'tables']).includes('ekp-proxy'), 20_000, () => `never synced; log:\n${daemon.log}`, 200);
      expect(names.map((n) => sysctl(n, true))).toEqual(['7200', '1800', '1', '45']);
      // Raising it needs no capability (1000: whatever a runner's floor is).
      expect(readFileSync(`/proc/${daemon.pid}/oom_score_adj`, 'utf8').trim()).toBe('1000');
      while (!/conntrack setting not applied/.test(daemon.log) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(daemon.log).toMatch(/conntrack setting not applied.*nf_conntrack_max: cannot set/);
      expect(names.map((n) => sysctl(n, false))).toEqual(host);
    } finally {
      await daemon.stop();
    }
  }, 60_000);
});
