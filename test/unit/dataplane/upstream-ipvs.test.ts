import { describe, expect, it } from 'vitest';
import type { CommandResult } from '../../../src/dataplane/run.js';
import { cleanupUpstreamIpvs, upstreamIpvsRestore, type UpstreamIpvsHost } from '../../../src/dataplane/upstream-ipvs.js';
import { memoryLogger } from '../../../src/observe/index.js';

const ok = (stdout = ''): CommandResult => ({ status: 0, stdout, stderr: '' });

// What kube-proxy's ipvs mode leaves: a ClusterIP and a NodePort virtual server, and someone else's.
const IPSET_SAVE = [
  'create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536',
  'add KUBE-CLUSTER-IP 10.96.7.7,tcp:80',
  'create KUBE-NODE-PORT-TCP bitmap:port range 0-65535',
  'add KUBE-NODE-PORT-TCP 30777',
  'create KUBE-6-NODE-PORT-UDP bitmap:port range 0-65535',
  'add KUBE-6-NODE-PORT-UDP 30778',
  'create SOMEONE-ELSES hash:ip family inet',
].join('\n');
const IPVS_SAVE = [
  '-A -t 10.96.7.7:80 -s rr',
  '-a -t 10.96.7.7:80 -r 10.244.9.9:80 -m -w 1',
  '-A -t 192.168.7.2:30777 -s rr',
  '-A -u [fd00:7::2]:30778 -s rr',
  '-A -t 192.168.7.2:8080 -s rr',
].join('\n');
const NAT_SAVE = [
  '*nat', ':PREROUTING ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]', ':KUBE-SERVICES - [0:0]', ':KUBE-NODE-PORT - [0:0]',
  '-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
  '-A KUBE-SERVICES -m comment --comment "Kubernetes service cluster ip + port for masquerade purpose" -m set --match-set KUBE-CLUSTER-IP src,dst -j KUBE-MARK-MASQ',
  '-A KUBE-SERVICES -m addrtype --dst-type LOCAL -j KUBE-NODE-PORT',
  '-A KUBE-NODE-PORT -p tcp -m set --match-set KUBE-NODE-PORT-TCP dst -j KUBE-MARK-MASQ',
  '-A OUTPUT -d 192.0.2.1/32 -j ACCEPT',
  'COMMIT',
  '*filter', ':INPUT ACCEPT [0:0]', ':KUBE-IPVS-FILTER - [0:0]', ':KUBE-FIREWALL - [0:0]',
  '-A INPUT -m comment --comment "kubernetes ipvs access filter" -j KUBE-IPVS-FILTER',
  '-A INPUT -j KUBE-FIREWALL',
  '-A KUBE-IPVS-FILTER -m set --match-set KUBE-IPVS-IPS dst -m conntrack --ctstate NEW -j REJECT',
  'COMMIT', '',
].join('\n');

function fakeHost(opts: { device?: boolean; failDestroy?: string } = {}) {
  const calls: string[] = [];
  const inputs = new Map<string, string>();
  const host: UpstreamIpvsHost = {
    hasDevice: (name) => (opts.device ?? true) && name === 'kube-ipvs0',
    exists: (path) => path !== '/proc/net/ip_tables_names' && path !== '/proc/net/ip6_tables_names',
    run: async (argv, input) => {
      const cmd = argv.join(' ');
      calls.push(cmd);
      if (input !== undefined) inputs.set(cmd, input);
      if (cmd === 'ip -j addr show dev kube-ipvs0') return ok(JSON.stringify([{ ifname: 'kube-ipvs0', addr_info: [{ local: '10.96.7.7' }] }]));
      if (cmd === 'ipset save') return ok(IPSET_SAVE);
      if (cmd === 'ipvsadm -Sn') return ok(IPVS_SAVE);
      if (cmd === 'iptables-nft-save') return ok(NAT_SAVE);
      if (cmd === 'ip6tables-nft-save') return ok('*nat\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n');
      if (cmd === `ipset destroy ${opts.failDestroy}`) return { status: 1, stdout: '', stderr: 'Set cannot be destroyed: it is in use by a kernel component' };
      return ok();
    },
  };
  return { host, calls, inputs };
}

describe('cleanupUpstreamIpvs: what upstream kube-proxy\'s ipvs mode left', () => {
  it('removes its virtual servers (on kube-ipvs0\'s addresses, NodePorts its sets list), its chains and set rules, its sets and kube-ipvs0; leaves others\' alone', async () => {
    const f = fakeHost();
    const removed = await cleanupUpstreamIpvs(memoryLogger(), f.host);
    expect(f.inputs.get('ipvsadm --restore')).toBe('-D -t 10.96.7.7:80\n-D -t 192.168.7.2:30777\n-D -u [fd00:7::2]:30778\n');
    expect(f.inputs.get('iptables-nft-restore --noflush')).toBe([
      '*nat', ':KUBE-NODE-PORT - [0:0]',
      '-D KUBE-SERVICES -m comment --comment "Kubernetes service cluster ip + port for masquerade purpose" -m set --match-set KUBE-CLUSTER-IP src,dst -j KUBE-MARK-MASQ',
      '-D KUBE-SERVICES -m addrtype --dst-type LOCAL -j KUBE-NODE-PORT',
      '-X KUBE-NODE-PORT', 'COMMIT',
      // filter's KUBE-FIREWALL is kubelet's: it stays.
      '*filter', ':KUBE-IPVS-FILTER - [0:0]', '-D INPUT -m comment --comment "kubernetes ipvs access filter" -j KUBE-IPVS-FILTER', '-X KUBE-IPVS-FILTER', 'COMMIT', '',
    ].join('\n'));
    expect(f.calls.filter((c) => c.startsWith('ipset destroy')).sort()).toEqual(['ipset destroy KUBE-6-NODE-PORT-UDP', 'ipset destroy KUBE-CLUSTER-IP', 'ipset destroy KUBE-NODE-PORT-TCP']);
    expect(f.calls.at(-1)).toBe('ip link del kube-ipvs0');
    // No legacy tables here: their tools are not run; the IPv6 table has nothing of it.
    expect(f.calls.filter((c) => c.includes('legacy') || c.startsWith('ip6tables-nft-restore'))).toEqual([]);
    expect(removed).toContain("upstream kube-proxy's interface kube-ipvs0");
    expect(removed).toContain("upstream kube-proxy's ipvs virtual server -t 192.168.7.2:30777");
  });

  it('without kube-ipvs0 nothing is run', async () => {
    const f = fakeHost({ device: false });
    expect(await cleanupUpstreamIpvs(memoryLogger(), f.host)).toEqual([]);
    expect(f.calls).toEqual([]);
  });

  it('a set that cannot go is said, and kube-ipvs0 stays so the next start looks again', async () => {
    const f = fakeHost({ failDestroy: 'KUBE-CLUSTER-IP' });
    const log = memoryLogger();
    await cleanupUpstreamIpvs(log, f.host);
    expect(log.lines.map((l) => l.msg)).toEqual(["cannot destroy upstream kube-proxy's ipset"]);
    expect(f.calls).not.toContain('ip link del kube-ipvs0');
  });

  it('a save with none of its chains or sets needs no restore', () => {
    expect(upstreamIpvsRestore('*nat\n:OUTPUT ACCEPT [0:0]\n:KUBE-SERVICES - [0:0]\n-A OUTPUT -j KUBE-SERVICES\nCOMMIT\n')).toBeNull();
  });
});
