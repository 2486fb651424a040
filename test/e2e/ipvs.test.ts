// The scenario table in ipvs mode, plus `auto` falling back to ipvs.
//
// This needs a kernel with IP_VS. The development and CI machines' kernel has none, so
// test/vm/ipvs.test.ts boots a qemu VM with Debian's kernel and runs this file inside it (with
// EKP_IN_VM=1; EKP_IPVS_IPV6=1 for the dual-stack lab, which the VM test asks for). Run directly
// on a kernel without IP_VS, the file skips and says where it runs.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { scenarioSuite } from './suite.js';

const inVm = process.env.EKP_IN_VM === '1';

// Slower timeouts under the VM's emulation (vm-slow.ts).
vi.mock('../../src/lab/index.js', async (orig) => (await import('./vm-slow.js')).slowLab(orig as () => Promise<typeof import('../../src/lab/index.js')>));
const hasIpvs = existsSync('/proc/net/ip_vs') || spawnSync('modprobe', ['-n', '-q', 'ip_vs']).status === 0;

if (hasIpvs || inVm) {
  scenarioSuite('ipvs', 'v', { ipv6: process.env.EKP_IPVS_IPV6 === '1', timeoutMs: inVm ? 150_000 : 60_000 });
  autoFallback();
  upstreamIpvsLeftovers();
} else {
  // vitest.config.ts leaves this file out on hosts; run by hand without IP_VS it fails and says where it runs.
  describe('end to end, ipvs mode', () => {
    it('needs a kernel with IP_VS', () => {
      throw new Error('this kernel has no IP_VS: test/vm/ipvs.test.ts runs this file in a qemu VM');
    });
  });
}

const ROOT = new URL('../..', import.meta.url).pathname;

function sh(argv: string[], input?: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', input: input ?? '', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? String(r.error ?? '') };
}

/**
 * `auto` on a kernel that has both BPF and IP_VS, with BPF loading refused by a seccomp filter
 * (scripts/vm/no-bpf.py: BPF_MAP_CREATE, BPF_PROG_LOAD and BPF_BTF_LOAD fail with EPERM; queries
 * still work). The probe sees no usable BPF, auto picks ipvs, the Service is programmed; SIGTERM
 * leaves it serving and --cleanup removes every trace.
 *
 * Not `no-bpf.py --all` (every bpf() call refused, as a container runtime's default seccomp
 * profile does): then the start-up cleanup of the ebpf mode's leftovers fails on
 * bpf_prog_query and the proxy exits before any mode starts.
 */
function autoFallback(): void {
  describe('auto mode where loading BPF is refused and IP_VS is present', () => {
    const netns = `ekpva${process.pid % 100_000}`;
    const nsPath = `/run/netns/${netns}`;
    const dir = mkdtempSync(join(tmpdir(), 'ekpt-ipvs-auto-'));
    const inNs = (argv: string[], input?: string) => sh(['nsenter', `--net=${nsPath}`, '--', ...argv], input);

    afterAll(() => {
      sh(['ip', 'netns', 'del', netns]);
      rmSync(dir, { recursive: true, force: true });
    });

    it('picks ipvs, programs a NodePort Service, keeps it after SIGTERM, and --cleanup removes it all', async () => {
      sh(['ip', 'netns', 'del', netns]);
      expect(sh(['ip', 'netns', 'add', netns]).status).toBe(0);
      const setup = ['link set lo up', 'link add eth0 type dummy', 'addr add 192.0.2.10/24 dev eth0', 'link set eth0 up', ''].join('\n');
      expect(sh(['ip', '-n', netns, '-batch', '-'], setup).status).toBe(0);
      const manifests = join(dir, 'manifests');
      sh(['mkdir', '-p', manifests]);
      const service = {
        apiVersion: 'v1', kind: 'Service', metadata: { name: 'auto', namespace: 'vm' },
        spec: { type: 'NodePort', clusterIP: '10.96.7.1', clusterIPs: ['10.96.7.1'], ports: [{ name: 'p', port: 80, targetPort: 8080, protocol: 'TCP', nodePort: 30777 }] },
      };
      const slice = {
        apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: 'auto-1', namespace: 'vm', labels: { 'kubernetes.io/service-name': 'auto' } },
        addressType: 'IPv4', ports: [{ name: 'p', port: 8080, protocol: 'TCP' }],
        endpoints: [{ addresses: ['10.244.9.10'], conditions: { ready: true } }, { addresses: ['10.244.9.11'], conditions: { ready: true } }],
      };
      writeFileSync(join(manifests, 'auto.yaml'), `${JSON.stringify(service)}\n---\n${JSON.stringify(slice)}\n`);

      // kube-proxy's ipvs timeouts, from its config file; tcpFinTimeout 0s keeps the kernel's.
      const config = join(dir, 'config.yaml');
      writeFileSync(config, 'apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nipvs:\n  tcpTimeout: 16m40s\n  tcpFinTimeout: 0s\n  udpTimeout: 400s\n');
      const logFile = join(dir, 'proxy.log');
      const args = [
        join(ROOT, 'scripts/vm/no-bpf.py'), 'nsenter', `--net=${nsPath}`, '--', process.execPath, join(ROOT, 'bin/ebpf-kube-proxy.js'), 'run',
        '--config', config, '--proxy-mode', 'auto', '--manifests', manifests, '--hostname-override', 'vm1', '--cluster-cidr', '10.244.0.0/16',
        '--healthz-bind-address', '127.0.0.1:10256', '--metrics-bind-address', '127.0.0.1:10249',
      ];
      let log = '';
      const child = spawn('python3', args, { stdio: ['ignore', 'pipe', 'pipe'] });
      child.stdout.setEncoding('utf8').on('data', (d: string) => (log += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (log += d));
      const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
      try {
        const deadline = Date.now() + 60_000;
        while (!log.includes('"msg":"running"') || !/-a -t 10\.96\.7\.1:80 -r 10\.244\.9\.11:8080/.test(inNs(['ipvsadm', '-Sn']).stdout)) {
          if (child.exitCode !== null || Date.now() > deadline) throw new Error(`proxy did not come up in ipvs mode:\n${log.slice(-3000)}`);
          await new Promise((r) => setTimeout(r, 250));
        }
        const chosen = log.split('\n').find((l) => l.includes('proxy mode chosen')) ?? '';
        expect(chosen).toContain('"mode":"ipvs"');
        // The reason ebpf was passed over is the refused bpf() call.
        expect(chosen).toMatch(/"ebpf":"bpf_syscall: bpf\(\) syscall: [^"]*"/);
        writeFileSync(logFile, log);
      } finally {
        child.kill('SIGTERM');
      }
      expect(await exited).toBe(0);

      // SIGTERM left the datapath: virtual servers, the VIP on ekp-ipvs0, sets and rules.
      const save = inNs(['ipvsadm', '-Sn']).stdout;
      expect(save).toContain('-A -t 10.96.7.1:80 -s rr');
      expect(save).toContain('-A -t 192.0.2.10:30777 -s rr');
      expect(save).toMatch(/-a -t 192\.0\.2\.10:30777 -r 10\.244\.9\.10:8080 -m -w 1/);
      expect(inNs(['ip', '-o', 'addr', 'show', 'dev', 'ekp-ipvs0']).stdout).toContain('10.96.7.1/32');
      expect(inNs(['ipset', 'list', 'EKP-NODE-PORT']).stdout).toContain('192.0.2.10,tcp:30777');
      expect(inNs(['iptables-save', '-t', 'nat']).stdout).toContain('-j EKP-SERVICES');
      // IPVS timeouts are per network namespace: set in the proxy's, the guest's own untouched.
      expect(inNs(['ipvsadm', '-L', '--timeout']).stdout).toMatch(/Timeout \(tcp tcpfin udp\): 1000 120 400/);
      expect(sh(['ipvsadm', '-L', '--timeout']).stdout).toMatch(/Timeout \(tcp tcpfin udp\): 900 120 300/);

      const cleanup = inNs([process.execPath, join(ROOT, 'bin/ebpf-kube-proxy.js'), 'run', '--cleanup']);
      expect(cleanup.status, cleanup.stderr + cleanup.stdout).toBe(0);
      expect(inNs(['ipvsadm', '-Sn']).stdout.trim()).toBe('');
      expect(inNs(['ip', 'link', 'show', 'dev', 'ekp-ipvs0']).status).not.toBe(0);
      expect(inNs(['ipset', 'list', '-n']).stdout).not.toMatch(/^EKP/m);
      expect(inNs(['iptables-save']).stdout).not.toContain('EKP-');
    }, 180_000);
  });
}

/**
 * A node that ran upstream kube-proxy's ipvs mode and was not cleaned up: kube-ipvs0 with a
 * ClusterIP, its virtual servers (the ClusterIP, a NodePort), its sets and chains. Ours remove
 * exactly those (src/dataplane/upstream-ipvs.ts), as every start does; someone else's virtual
 * server and set stay.
 */
function upstreamIpvsLeftovers(): void {
  describe('what upstream kube-proxy\'s ipvs mode left on the node', () => {
    const netns = `ekpvu${process.pid % 100_000}`;
    const nsPath = `/run/netns/${netns}`;
    const inNs = (argv: string[], input?: string) => sh(['nsenter', `--net=${nsPath}`, '--', ...argv], input);
    const must = (argv: string[], input?: string) => {
      const r = inNs(argv, input);
      expect(r.status, `${argv.join(' ')}: ${r.stderr}`).toBe(0);
    };

    afterAll(() => {
      sh(['ip', 'netns', 'del', netns]);
    });

    it('is removed at our start (here --cleanup): kube-ipvs0, its virtual servers, sets and chains; others\' stay', () => {
      sh(['ip', 'netns', 'del', netns]);
      expect(sh(['ip', 'netns', 'add', netns]).status).toBe(0);
      const links = ['link set lo up', 'link add eth0 type dummy', 'addr add 192.0.2.20/24 dev eth0', 'link set eth0 up',
        'link add kube-ipvs0 type dummy', 'addr add 10.96.8.8/32 dev kube-ipvs0', ''].join('\n');
      expect(sh(['ip', '-n', netns, '-batch', '-'], links).status).toBe(0);
      must(['ipset', 'restore'], [
        'create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536', 'add KUBE-CLUSTER-IP 10.96.8.8,tcp:80',
        'create KUBE-NODE-PORT-TCP bitmap:port range 0-65535', 'add KUBE-NODE-PORT-TCP 30888',
        'create KUBE-IPVS-IPS hash:ip family inet hashsize 1024 maxelem 65536', 'add KUBE-IPVS-IPS 10.96.8.8',
        'create OTHER-SET hash:ip family inet hashsize 1024 maxelem 65536', '',
      ].join('\n'));
      must(['ipvsadm', '--restore'], [
        '-A -t 10.96.8.8:80 -s rr', '-a -t 10.96.8.8:80 -r 10.244.8.8:8080 -m -w 1',
        '-A -t 192.0.2.20:30888 -s rr', '-a -t 192.0.2.20:30888 -r 10.244.8.8:8080 -m -w 1',
        '-A -t 192.0.2.20:8080 -s rr', '',
      ].join('\n'));
      must(['iptables-restore', '--noflush'], [
        '*nat', ':KUBE-SERVICES - [0:0]', ':KUBE-NODE-PORT - [0:0]', ':KUBE-MARK-MASQ - [0:0]',
        '-A OUTPUT -j KUBE-SERVICES', '-A KUBE-SERVICES -m set --match-set KUBE-CLUSTER-IP src,dst -j KUBE-MARK-MASQ',
        '-A KUBE-SERVICES -m addrtype --dst-type LOCAL -j KUBE-NODE-PORT', '-A KUBE-NODE-PORT -p tcp -m set --match-set KUBE-NODE-PORT-TCP dst -j KUBE-MARK-MASQ',
        'COMMIT',
        '*filter', ':KUBE-IPVS-FILTER - [0:0]', '-A INPUT -j KUBE-IPVS-FILTER',
        '-A KUBE-IPVS-FILTER -m set --match-set KUBE-IPVS-IPS dst -m conntrack --ctstate NEW -j REJECT', 'COMMIT', '',
      ].join('\n'));

      const cleanup = inNs([process.execPath, join(ROOT, 'bin/ebpf-kube-proxy.js'), 'run', '--cleanup']);
      expect(cleanup.status, cleanup.stderr + cleanup.stdout).toBe(0);
      expect(inNs(['ipvsadm', '-Sn']).stdout.trim()).toBe('-A -t 192.0.2.20:8080 -s rr');
      expect(inNs(['ip', 'link', 'show', 'dev', 'kube-ipvs0']).status).not.toBe(0);
      expect(inNs(['ipset', 'list', '-n']).stdout.trim().split('\n')).toEqual(['OTHER-SET']);
      const saved = inNs(['iptables-save']).stdout;
      // KUBE-MARK-MASQ too: the iptables cleaner would keep it while KUBE-NODE-PORT jumped into it.
      expect(saved).not.toMatch(/KUBE-NODE-PORT|KUBE-IPVS-FILTER|KUBE-MARK-MASQ|match-set KUBE-/);
      expect(cleanup.stdout + cleanup.stderr).toContain("upstream kube-proxy's interface kube-ipvs0");
    }, 120_000);
  });
}
