// The text formats ipvs mode reads and writes: ipvsadm -Sn / -Ln / --restore, ipset save /
// restore, iptables-restore. No kernel needed.
import { describe, expect, it } from 'vitest';
import { diffIpsets, parseIpsetSave } from '../../../../src/dataplane/ipvs/ipset.js';
import { deleteAll, diffIpvs, parseIpvsConnections, parseIpvsSave } from '../../../../src/dataplane/ipvs/ipvsadm.js';
import { setName } from '../../../../src/dataplane/ipvs/names.js';
import type { VirtualServer } from '../../../../src/dataplane/ipvs/plan.js';
import { cleanupRestore, JUMPS, missingJumps, outFirewallRestore, rulesRestore } from '../../../../src/dataplane/ipvs/rules.js';

// As `ipvsadm -Sn` prints it (ipvsadm 1.31).
const SAVE = `-A -t 10.96.0.10:80 -s rr
-a -t 10.96.0.10:80 -r 10.244.1.10:8080 -m -w 1
-a -t 10.96.0.10:80 -r 10.244.2.10:8080 -m -w 1
-A -t 10.96.0.13:80 -s rr -p 600
-a -t 10.96.0.13:80 -r 10.244.1.11:8080 -m -w 1
-A -u 10.96.0.15:53 -s rr
-a -u 10.96.0.15:53 -r 10.244.1.10:5353 -m -w 1
-A -t [fd00:96::a]:80 -s rr
-a -t [fd00:96::a]:80 -r [fd00:244:1::a]:8080 -m -w 1
-A -t 192.168.9.9:443 -s wlc
-a -t 192.168.9.9:443 -r 192.168.9.20:443 -g -w 1
-A -f 7 -s rr
`;

// As `ipvsadm -Ln` prints it.
const LIST = `IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
TCP  10.96.0.10:80 rr
  -> 10.244.1.10:8080             Masq    1      0          0
  -> 10.244.2.10:8080             Masq    0      1          3
TCP  [fd00:96::a]:80 rr
  -> [fd00:244:1::a]:8080         Masq    0      0          0
`;

const vsOf = (v: Partial<VirtualServer> & Pick<VirtualServer, 'address' | 'port'>): VirtualServer => ({
  protocol: 'TCP', family: v.address.includes(':') ? 6 : 4, scheduler: 'rr', persistence: 0, reals: [], ...v,
});

describe('ipvsadm', () => {
  const kernel = parseIpvsSave(SAVE);

  it('parses -Sn: services with scheduler and persistence, real servers with forwarding and weight; fwmark services left out', () => {
    expect([...kernel.keys()]).toEqual(['TCP/10.96.0.10:80', 'TCP/10.96.0.13:80', 'UDP/10.96.0.15:53', 'TCP/[fd00:96::a]:80', 'TCP/192.168.9.9:443']);
    expect(kernel.get('TCP/10.96.0.13:80')).toMatchObject({ scheduler: 'rr', persistence: 600, family: 4 });
    expect(kernel.get('TCP/[fd00:96::a]:80')?.reals.get('[fd00:244:1::a]:8080')).toEqual({ address: 'fd00:244:1::a', port: 8080, weight: 1, forward: 'm' });
    expect(kernel.get('TCP/192.168.9.9:443')?.reals.get('192.168.9.20:443')?.forward).toBe('g');
  });

  it('parses -Ln connection counts (active + inactive)', () => {
    const c = parseIpvsConnections(LIST);
    expect(c.get('TCP/10.96.0.10:80 10.244.2.10:8080')).toBe(4);
    expect(c.get('TCP/10.96.0.10:80 10.244.1.10:8080')).toBe(0);
    expect(c.get('TCP/[fd00:96::a]:80 [fd00:244:1::a]:8080')).toBe(0);
  });

  const ours = (vs: { address: string }) => vs.address.startsWith('10.96.') || vs.address.startsWith('fd00:96:');

  it('no change, no command', () => {
    const want = new Map([...kernel].filter(([, v]) => ours(v)).map(([k, v]) => [k, vsOf({ ...v, reals: [...v.reals.values()].map(({ address, port, weight }) => ({ address, port, weight })) })]));
    expect(diffIpvs(kernel, want, { isOurs: ours }).commands).toEqual([]);
  });

  it('adds, edits and deletes: services first, then real servers, deletes of services last; never a service not ours', () => {
    const want = new Map<string, VirtualServer>([
      ['TCP/10.96.0.10:80', vsOf({ address: '10.96.0.10', port: 80, scheduler: 'wrr', reals: [{ address: '10.244.1.10', port: 8080, weight: 1 }, { address: '10.244.2.10', port: 8080, weight: 1 }] })],
      ['TCP/10.96.0.13:80', vsOf({ address: '10.96.0.13', port: 80, persistence: 600, reals: [{ address: '10.244.1.11', port: 8080, weight: 1 }, { address: '10.244.1.12', port: 8080, weight: 1 }] })],
      ['UDP/10.96.0.15:53', vsOf({ protocol: 'UDP', address: '10.96.0.15', port: 53, reals: [] })],
      ['TCP/[fd00:96::b]:80', vsOf({ address: 'fd00:96::b', port: 80, reals: [{ address: 'fd00:244:1::b', port: 8080, weight: 1 }] })],
    ]);
    const d = diffIpvs(kernel, want, { isOurs: ours });
    expect(d.commands).toEqual([
      '-E -t 10.96.0.10:80 -s wrr',
      '-A -t [fd00:96::b]:80 -s rr',
      '-a -t 10.96.0.13:80 -r 10.244.1.12:8080 -m -w 1',
      // UDP real servers go at once.
      '-d -u 10.96.0.15:53 -r 10.244.1.10:5353',
      '-a -t [fd00:96::b]:80 -r [fd00:244:1::b]:8080 -m -w 1',
      '-D -t [fd00:96::a]:80',
    ]);
    expect(d.counts).toEqual({ addServices: 1, editServices: 1, deleteServices: 1, addReals: 2, editReals: 0, deleteReals: 1 });
  });

  it('graceful removal of a TCP real server: weight 0 first, deleted once IPVS counts no connection', () => {
    const want = new Map<string, VirtualServer>([
      ['TCP/10.96.0.10:80', vsOf({ address: '10.96.0.10', port: 80, reals: [{ address: '10.244.1.10', port: 8080, weight: 1 }] })],
    ]);
    const only = new Map([...kernel].filter(([k]) => k === 'TCP/10.96.0.10:80'));
    const first = diffIpvs(only, want, { isOurs: ours });
    expect(first.commands).toEqual(['-e -t 10.96.0.10:80 -r 10.244.2.10:8080 -m -w 0']);
    expect(first.draining).toEqual(['TCP/10.96.0.10:80 10.244.2.10:8080']);

    const drained = parseIpvsSave(SAVE.replace('-r 10.244.2.10:8080 -m -w 1', '-r 10.244.2.10:8080 -m -w 0'));
    const onlyDrained = new Map([...drained].filter(([k]) => k === 'TCP/10.96.0.10:80'));
    const busy = diffIpvs(onlyDrained, want, { isOurs: ours, connections: new Map([['TCP/10.96.0.10:80 10.244.2.10:8080', 4]]) });
    expect(busy.commands).toEqual([]);
    expect(busy.draining).toHaveLength(1);
    const idle = diffIpvs(onlyDrained, want, { isOurs: ours, connections: new Map([['TCP/10.96.0.10:80 10.244.2.10:8080', 0]]) });
    expect(idle.commands).toEqual(['-d -t 10.96.0.10:80 -r 10.244.2.10:8080']);
    expect(idle.draining).toEqual([]);
  });

  it('an endpoint that comes back while draining gets its weight back', () => {
    const drained = parseIpvsSave('-A -t 10.96.0.10:80 -s rr\n-a -t 10.96.0.10:80 -r 10.244.2.10:8080 -m -w 0\n');
    const want = new Map([['TCP/10.96.0.10:80', vsOf({ address: '10.96.0.10', port: 80, reals: [{ address: '10.244.2.10', port: 8080, weight: 1 }] })]]);
    expect(diffIpvs(drained, want, { isOurs: ours }).commands).toEqual(['-e -t 10.96.0.10:80 -r 10.244.2.10:8080 -m -w 1']);
  });

  it('a real server with another forwarding method is replaced (it cannot be edited in place)', () => {
    const k = parseIpvsSave('-A -t 10.96.0.10:80 -s rr\n-a -t 10.96.0.10:80 -r 10.244.2.10:8080 -g -w 1\n');
    const want = new Map([['TCP/10.96.0.10:80', vsOf({ address: '10.96.0.10', port: 80, reals: [{ address: '10.244.2.10', port: 8080, weight: 1 }] })]]);
    expect(diffIpvs(k, want, { isOurs: ours }).commands).toEqual(['-d -t 10.96.0.10:80 -r 10.244.2.10:8080', '-a -t 10.96.0.10:80 -r 10.244.2.10:8080 -m -w 1']);
  });

  it('cleanup deletes only our services', () => {
    expect(deleteAll(kernel, ours)).toEqual(['-D -t 10.96.0.10:80', '-D -t 10.96.0.13:80', '-D -u 10.96.0.15:53', '-D -t [fd00:96::a]:80']);
  });
});

describe('ipset', () => {
  // As `ipset save` prints it.
  const SAVE_SETS = `create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536 bucketsize 12 initval 0x1
add KUBE-CLUSTER-IP 10.96.0.1,tcp:443
create EKP-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 262144 bucketsize 12 initval 0x2
add EKP-CLUSTER-IP 10.96.0.10,tcp:80
add EKP-CLUSTER-IP 10.96.0.99,udp:53
create EKP-LOAD-BALANCER-SOURCE-CIDR hash:ip,port,net family inet hashsize 1024 maxelem 262144 bucketsize 12 initval 0x3
add EKP-LOAD-BALANCER-SOURCE-CIDR 198.51.100.7,tcp:80,192.168.77.100
create EKP6-LOAD-BALANCER-SOURCE-CIDR hash:ip,port,net family inet6 hashsize 1024 maxelem 262144 bucketsize 12 initval 0x4
add EKP6-LOAD-BALANCER-SOURCE-CIDR 2001:db8::7,tcp:80,2001:db8::/32
`;

  it('reads our sets only; keeps a v6 /32 network', () => {
    const k = parseIpsetSave(SAVE_SETS);
    expect([...k.keys()]).toEqual(['EKP-CLUSTER-IP', 'EKP-LOAD-BALANCER-SOURCE-CIDR', 'EKP6-LOAD-BALANCER-SOURCE-CIDR']);
    expect(k.get('EKP6-LOAD-BALANCER-SOURCE-CIDR')?.entries).toEqual(new Set(['2001:db8::7,tcp:80,2001:db8::/32']));
  });

  it('creates missing sets and adds before, deletes after', () => {
    const k = parseIpsetSave(SAVE_SETS);
    const want = new Map<string, Set<string>>([
      [setName('clusterIP', 4), new Set(['10.96.0.10,tcp:80', '10.96.0.11,tcp:80'])],
      [setName('loadBalancerSourceCIDR', 4), new Set(['198.51.100.7,tcp:80,192.168.77.100'])],
      [setName('loadBalancerSourceCIDR', 6), new Set(['2001:db8::7,tcp:80,2001:db8::/32'])],
    ]);
    const d = diffIpsets(k, want);
    expect(d.before).toContain('add EKP-CLUSTER-IP 10.96.0.11,tcp:80');
    expect(d.before).toContain('create EKP-LOOP-BACK hash:ip,port,ip family inet hashsize 1024 maxelem 262144');
    expect(d.before).toContain('create EKP6-NODE-PORT hash:ip,port family inet6 hashsize 1024 maxelem 262144');
    expect(d.before).toContain('create EKP-IPVS-IPS hash:ip family inet hashsize 1024 maxelem 262144');
    expect(d.before).toContain('create EKP6-HEALTH-CHECK-NODE-PORT bitmap:port range 0-65535');
    expect(d.before.filter((l) => l.startsWith('create'))).toHaveLength(25);
    expect(d.after).toEqual(['del EKP-CLUSTER-IP 10.96.0.99,udp:53']);
    expect(d.added).toBe(1);
  });
});

describe('iptables rules', () => {
  it('one family: our chains declared (flushed) and filled; jumps only where missing', () => {
    const text = rulesRestore({ family: 4, masqueradeBit: 14, masquerade: { clusterIP: 'offCluster', clusterCIDRs: ['10.244.0.0/16'] } }, JUMPS.slice(0, 1));
    expect(text).toBe(`*nat
:EKP-SERVICES - [0:0]
:EKP-POSTROUTING - [0:0]
:EKP-MARK-MASQ - [0:0]
:EKP-MASQ-OFF-CLUSTER - [0:0]
-A EKP-MARK-MASQ -j MARK --or-mark 0x4000
-A EKP-POSTROUTING -m set --match-set EKP-LOOP-BACK dst,dst,src -j MASQUERADE
-A EKP-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A EKP-POSTROUTING -j MARK --xor-mark 0x4000
-A EKP-POSTROUTING -j MASQUERADE --random-fully
-A EKP-SERVICES -m set --match-set EKP-CLUSTER-IP dst,dst -j EKP-MASQ-OFF-CLUSTER
-A EKP-MASQ-OFF-CLUSTER -s 10.244.0.0/16 -j RETURN
-A EKP-MASQ-OFF-CLUSTER -j EKP-MARK-MASQ
-A EKP-SERVICES -m set --match-set EKP-NODE-PORT dst,dst -j EKP-MARK-MASQ
-A EKP-SERVICES -m set --match-set EKP-EXTERNAL-IP dst,dst -j EKP-MARK-MASQ
-A EKP-SERVICES -m set --match-set EKP-LOAD-BALANCER dst,dst -j EKP-MARK-MASQ
-A EKP-SERVICES -m set --match-set EKP-NODE-PORT-LOCAL dst,dst -m addrtype --src-type LOCAL -j EKP-MARK-MASQ
-A EKP-SERVICES -m set --match-set EKP-EXTERNAL-IP-LOCAL dst,dst -m addrtype --src-type LOCAL -j EKP-MARK-MASQ
-A EKP-SERVICES -m set --match-set EKP-LOAD-BALANCER-LOCAL dst,dst -m addrtype --src-type LOCAL -j EKP-MARK-MASQ
-I PREROUTING 1 -m comment --comment ebpf-kube-proxy-ipvs -j EKP-SERVICES
COMMIT
*filter
:EKP-FIREWALL - [0:0]
:EKP-FORWARD - [0:0]
:EKP-HEALTH-CHECK - [0:0]
-A EKP-FIREWALL -m set --match-set EKP-LOAD-BALANCER-FW dst,dst -m set ! --match-set EKP-LOAD-BALANCER-SOURCE-CIDR dst,dst,src -j DROP
-A EKP-FIREWALL -m set --match-set EKP-DROP dst,dst -j DROP
-A EKP-FIREWALL -m set --match-set EKP-REJECT dst,dst -j REJECT
-A EKP-FIREWALL -m set --match-set EKP-CLUSTER-IP dst,dst -j RETURN
-A EKP-FIREWALL -m set --match-set EKP-EXTERNAL-IP dst,dst -j RETURN
-A EKP-FIREWALL -m set --match-set EKP-EXTERNAL-IP-LOCAL dst,dst -j RETURN
-A EKP-FIREWALL -m set --match-set EKP-LOAD-BALANCER dst,dst -j RETURN
-A EKP-FIREWALL -m set --match-set EKP-LOAD-BALANCER-LOCAL dst,dst -j RETURN
-A EKP-FIREWALL -m set --match-set EKP-NODE-PORT dst,dst -j RETURN
-A EKP-FIREWALL -m set --match-set EKP-NODE-PORT-LOCAL dst,dst -j RETURN
-A EKP-FIREWALL -p tcp -m set --match-set EKP-HEALTH-CHECK-NODE-PORT dst -j RETURN
-A EKP-FIREWALL ! -p icmp -m set --match-set EKP-IPVS-IPS dst -j REJECT
-A EKP-HEALTH-CHECK -p tcp -m set --match-set EKP-HEALTH-CHECK-NODE-PORT dst -j ACCEPT
-A EKP-FORWARD -m conntrack --ctstate INVALID -j DROP
-A EKP-FORWARD -m mark --mark 0x4000/0x4000 -j ACCEPT
-A EKP-FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
COMMIT
`);
  });

  it('health check node ports (kube-proxy\'s KUBE-HEALTH-CHECK-NODE-PORT): never refused on a VIP, and accepted from INPUT, every packet', () => {
    const lines = rulesRestore({ family: 6, masqueradeBit: 14 }, JUMPS).split('\n');
    const ret = lines.indexOf('-A EKP-FIREWALL -p tcp -m set --match-set EKP6-HEALTH-CHECK-NODE-PORT dst -j RETURN');
    expect(ret).toBeGreaterThan(-1);
    expect(ret).toBeLessThan(lines.indexOf('-A EKP-FIREWALL ! -p ipv6-icmp -m set --match-set EKP6-IPVS-IPS dst -j REJECT'));
    expect(lines).toContain('-A EKP-HEALTH-CHECK -p tcp -m set --match-set EKP6-HEALTH-CHECK-NODE-PORT dst -j ACCEPT');
    expect(lines).toContain('-I INPUT 1 -m comment --comment ebpf-kube-proxy-ipvs -j EKP-HEALTH-CHECK');
  });

  it('the node\'s own connections: the source ranges in mangle, a restore of its own (a kernel may lack the table)', () => {
    expect(outFirewallRestore(6, JUMPS)).toBe(`*mangle
:EKP-OUT-FIREWALL - [0:0]
-A EKP-OUT-FIREWALL -m set --match-set EKP6-LOAD-BALANCER-FW dst,dst -m set ! --match-set EKP6-LOAD-BALANCER-SOURCE-CIDR dst,dst,src -j DROP
-I OUTPUT 1 -m conntrack --ctstate NEW -m comment --comment ebpf-kube-proxy-ipvs -j EKP-OUT-FIREWALL
COMMIT
`);
    expect(rulesRestore({ family: 6, masqueradeBit: 14 }, JUMPS)).not.toContain('mangle');
  });

  it('without a cluster CIDR, the node\'s own connections from a VIP (local on ekp-ipvs0) are masqueraded', () => {
    const text = rulesRestore({ family: 4, masqueradeBit: 14, masquerade: { clusterIP: 'none', clusterCIDRs: [] } }, []);
    expect(text).toContain('-A EKP-SERVICES -m set --match-set EKP-CLUSTER-IP src,dst -j EKP-MARK-MASQ');
    expect(text).not.toContain('EKP-CLUSTER-IP dst,dst -j EKP-MARK-MASQ');
  });

  it('an interface detector: ClusterIP connections not from the pod interfaces are masqueraded, whatever the CIDRs', () => {
    const text = rulesRestore({ family: 4, masqueradeBit: 14, masquerade: { clusterIP: 'offCluster', clusterCIDRs: ['10.244.0.0/16'], podInterface: { name: 'cali', prefix: true } } }, []);
    expect(text).toContain('-A EKP-MASQ-OFF-CLUSTER -i cali+ -j RETURN\n-A EKP-MASQ-OFF-CLUSTER -j EKP-MARK-MASQ');
    expect(text).not.toContain('-s 10.244.0.0/16');
    expect(rulesRestore({ family: 4, masqueradeBit: 14, masquerade: { clusterIP: 'offCluster', clusterCIDRs: [], podInterface: { name: 'cbr0', prefix: false } } }, []))
      .toContain('-A EKP-MASQ-OFF-CLUSTER -i cbr0 -j RETURN');
  });

  it('no ct-INVALID drop when conntrack is liberal about TCP windows, as kube-proxy', () => {
    const opts = { family: 4 as const, masqueradeBit: 14, masquerade: { clusterIP: 'none' as const, clusterCIDRs: [] } };
    expect(rulesRestore(opts, [])).toContain('-A EKP-FORWARD -m conntrack --ctstate INVALID -j DROP');
    expect(rulesRestore({ ...opts, dropInvalid: false }, [])).not.toContain('INVALID');
  });

  it('IPv6 uses the EKP6- sets; masqueradeAll marks every ClusterIP connection', () => {
    const text = rulesRestore({ family: 6, masqueradeBit: 14, masquerade: { clusterIP: 'all', clusterCIDRs: [] } }, []);
    expect(text).toContain('-A EKP-SERVICES -m set --match-set EKP6-CLUSTER-IP dst,dst -j EKP-MARK-MASQ');
    expect(text).not.toContain('EKP-MASQ-OFF-CLUSTER -s');
    expect(text).not.toMatch(/--match-set EKP-/);
  });

  // As iptables-nft-save prints it after one sync.
  const SAVED = `*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:EKP-MARK-MASQ - [0:0]
:EKP-POSTROUTING - [0:0]
:EKP-SERVICES - [0:0]
:KUBE-SERVICES - [0:0]
-A PREROUTING -m comment --comment ebpf-kube-proxy-ipvs -j EKP-SERVICES
-A PREROUTING -j KUBE-SERVICES
-A OUTPUT -m comment --comment ebpf-kube-proxy-ipvs -j EKP-SERVICES
-A POSTROUTING -m comment --comment "ebpf-kube-proxy-ipvs" -j EKP-POSTROUTING
-A EKP-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:EKP-FIREWALL - [0:0]
:EKP-FORWARD - [0:0]
:EKP-HEALTH-CHECK - [0:0]
-A INPUT -m conntrack --ctstate NEW -m comment --comment ebpf-kube-proxy-ipvs -j EKP-FIREWALL
-A INPUT -m comment --comment ebpf-kube-proxy-ipvs -j EKP-HEALTH-CHECK
-A FORWARD -m comment --comment ebpf-kube-proxy-ipvs -j EKP-FORWARD
COMMIT
*mangle
:OUTPUT ACCEPT [0:0]
:EKP-OUT-FIREWALL - [0:0]
-A OUTPUT -m conntrack --ctstate NEW -m comment --comment ebpf-kube-proxy-ipvs -j EKP-OUT-FIREWALL
COMMIT
`;

  it('finds the jumps already there (quoted comments too)', () => {
    expect(missingJumps(SAVED)).toEqual([]);
    expect(missingJumps(SAVED.replace(/-A OUTPUT .*\n/, ''))).toEqual([JUMPS[1]]);
    expect(missingJumps(SAVED.replace(/-A OUTPUT -m conntrack .*\n/, ''))).toEqual([JUMPS.find((j) => j.table === 'mangle')]);
  });

  it('cleanup removes our jumps and chains, nothing of anyone else', () => {
    expect(cleanupRestore(SAVED)).toBe(`*nat
:EKP-MARK-MASQ - [0:0]
:EKP-POSTROUTING - [0:0]
:EKP-SERVICES - [0:0]
-D PREROUTING -m comment --comment ebpf-kube-proxy-ipvs -j EKP-SERVICES
-D OUTPUT -m comment --comment ebpf-kube-proxy-ipvs -j EKP-SERVICES
-D POSTROUTING -m comment --comment "ebpf-kube-proxy-ipvs" -j EKP-POSTROUTING
-X EKP-MARK-MASQ
-X EKP-POSTROUTING
-X EKP-SERVICES
COMMIT
*filter
:EKP-FIREWALL - [0:0]
:EKP-FORWARD - [0:0]
:EKP-HEALTH-CHECK - [0:0]
-D INPUT -m conntrack --ctstate NEW -m comment --comment ebpf-kube-proxy-ipvs -j EKP-FIREWALL
-D INPUT -m comment --comment ebpf-kube-proxy-ipvs -j EKP-HEALTH-CHECK
-D FORWARD -m comment --comment ebpf-kube-proxy-ipvs -j EKP-FORWARD
-X EKP-FIREWALL
-X EKP-FORWARD
-X EKP-HEALTH-CHECK
COMMIT
*mangle
:EKP-OUT-FIREWALL - [0:0]
-D OUTPUT -m conntrack --ctstate NEW -m comment --comment ebpf-kube-proxy-ipvs -j EKP-OUT-FIREWALL
-X EKP-OUT-FIREWALL
COMMIT
`);
    expect(cleanupRestore('*nat\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n')).toBeNull();
  });
});
