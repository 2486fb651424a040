// The lab's plan — names, addresses, the ip batch scripts — without root.
import { describe, expect, it } from 'vitest';
import { allHosts, findHost, hostAddrs, joinHostPort, planLab, podURL, splitHostPort, validateLabName } from '../../src/lab/index.js';
import { clientScript, fabricScript, globalSysctls, nodeLinkSysctls, nodeScript, podScript } from '../../src/lab/plan.js';

describe('lab plan', () => {
  it('names every namespace ekp-<name>-… and addresses hosts as documented', () => {
    const lab = planLab({ name: 'x1', nodes: 3, podsPerNode: 2, ipv6: true });
    expect(allHosts(lab).every((h) => h.netns.startsWith('ekp-x1-') && h.netnsPath === `/run/netns/${h.netns}`)).toBe(true);
    expect(new Set(allHosts(lab).map((h) => h.netns)).size).toBe(2 + 3 + 6);
    expect(lab.nodes[2]).toMatchObject({ name: 'node3', ipv4: '192.168.77.13', ipv6: 'fd00:77::13', podCIDR: '10.244.3.0/24', podCIDRv6: 'fd00:244:3::/64', pods: ['n3p1', 'n3p2'] });
    expect(findHost(lab, 'n2p2')).toMatchObject({ ipv4: '10.244.2.12', ipv6: 'fd00:244:2::12', node: 'node2', hostVeth: 'lxc2p2' });
    expect(findHost(lab, 'ekp-x1-client')).toBe(lab.client);
    expect(hostAddrs(lab.client)).toEqual(['192.168.77.100', 'fd00:77::100']);
    expect(podURL(lab.pods[0]!)).toBe('http://10.244.1.11:8080/');
    expect(podURL(lab.pods[0]!, '/x', 6)).toBe('http://[fd00:244:1::11]:8080/x');
    expect(planLab({ name: 'x1', nodes: 1, podsPerNode: 1 }).pods[0]!.ipv6).toBeUndefined();
  });

  it('rejects names that could prefix another lab, and sizes out of range', () => {
    for (const bad of ['', 'a-b', 'Lab', 'a'.repeat(13), 'a b', '../x']) expect(() => validateLabName(bad)).toThrow(/lab name/);
    expect(() => planLab({ name: 'x', nodes: 0, podsPerNode: 1 })).toThrow(/nodes/);
    expect(() => planLab({ name: 'x', nodes: 81, podsPerNode: 1 })).toThrow(/nodes/);
    expect(() => planLab({ name: 'x', nodes: 1, podsPerNode: 1.5 })).toThrow(/podsPerNode/);
    expect(() => planLab({ name: 'x', nodes: 80, podsPerNode: 200 })).toThrow(/limit/);
    const big = planLab({ name: 'x', nodes: 80, podsPerNode: 6 });
    expect(Math.max(...big.pods.map((p) => p.hostVeth.length))).toBeLessThanOrEqual(15);
    expect(new Set(allHosts(big).map((h) => h.ipv4)).size).toBe(allHosts(big).length);
  });

  it('builds routed pods: /32 + 169.254.1.1 gateway in the pod, /32 route and peer routes in the node', () => {
    const lab = planLab({ name: 'x', nodes: 2, podsPerNode: 1 });
    const pod = lab.pods[0]!;
    expect(podScript(lab, pod)).toBe(
      [
        'link set lo up',
        'link add eth0 type veth peer name lxc1p1 netns ekp-x-node1',
        'addr add 10.244.1.11/32 dev eth0',
        'link set eth0 up',
        'route add 169.254.1.1 dev eth0 scope link',
        'route add default via 169.254.1.1 dev eth0',
        '',
      ].join('\n'),
    );
    const node = nodeScript(lab, lab.nodes[0]!);
    expect(node).toContain('route add default via 192.168.77.1 dev eth0\n');
    expect(node).toContain('route add 10.244.1.11/32 dev lxc1p1 scope link\n');
    expect(node).toContain('route add 10.244.2.0/24 via 192.168.77.12 dev eth0\n');
    expect(node).not.toContain('bridge');
    expect(nodeLinkSysctls(lab, lab.nodes[0]!)).toContain('net.ipv4.conf.lxc1p1.proxy_arp=1');
    expect(fabricScript(lab)).toContain('link add node2 type veth peer name eth0 netns ekp-x-node2\n');
    expect(clientScript(lab)).toContain('addr add 192.168.77.100/24 dev eth0\n');
    expect(globalSysctls(lab.fabric)).toContain('net.ipv4.ip_forward=0');
    expect(globalSysctls(lab.nodes[0]!)).toContain('net.ipv4.ip_forward=1');
  });

  it('builds bridged pods (podBridge): the pod CIDR on cni0, hairpin ports, the first address as the pods\' gateway; IPv4 only', () => {
    const lab = planLab({ name: 'x', nodes: 2, podsPerNode: 2, podBridge: true });
    expect(podScript(lab, lab.pods[1]!)).toBe([
      'link set lo up',
      'link add eth0 type veth peer name lxc1p2 netns ekp-x-node1',
      'addr add 10.244.1.12/24 dev eth0',
      'link set eth0 up',
      'route add default via 10.244.1.1 dev eth0',
      '',
    ].join('\n'));
    const node = nodeScript(lab, lab.nodes[0]!);
    expect(node).toContain('addr add 10.244.1.1/24 dev cni0\n');
    expect(node).toContain('link set lxc1p2 master cni0\nlink set dev lxc1p2 type bridge_slave hairpin on\n');
    expect(node).not.toMatch(/route add 10\.244\.1\.1[12]\/32|unreachable/);
    expect(node).toContain('route add 10.244.2.0/24 via 192.168.77.12 dev eth0\n');
    expect(nodeLinkSysctls(lab, lab.nodes[0]!)).toEqual(expect.arrayContaining(['net.bridge.bridge-nf-call-iptables=1']));
    expect(nodeLinkSysctls(lab, lab.nodes[0]!).join(' ')).not.toContain('proxy_arp=1');
    expect(() => planLab({ name: 'x', nodes: 1, podsPerNode: 1, podBridge: true, ipv6: true })).toThrow(/IPv4 only/);
  });

  it('puts a macvlan of a node\'s eth0 into br0, which holds its address and routes (nodeUplinkBridge); IPv4 only', () => {
    const lab = planLab({ name: 'x', nodes: 2, podsPerNode: 1, nodeUplinkBridge: true });
    const node = nodeScript(lab, lab.nodes[0]!);
    expect(node).toContain('link set eth0 up\nlink add link eth0 name uplink0 type macvlan mode passthru\nlink set uplink0 master br0\nlink set uplink0 up\naddr add 192.168.77.11/24 dev br0\nlink set br0 up\nroute add default via 192.168.77.1 dev br0\n');
    expect(node).toContain('route add 10.244.2.0/24 via 192.168.77.12 dev br0\n');
    expect(node).not.toMatch(/dev eth0/);
    expect(() => planLab({ name: 'x', nodes: 1, podsPerNode: 1, nodeUplinkBridge: true, ipv6: true })).toThrow(/IPv4 only/);
  });

  it('reads and writes host:port for both families', () => {
    expect(splitHostPort('10.244.1.11:5353')).toEqual({ ip: '10.244.1.11', port: 5353 });
    expect(splitHostPort('[fd00:244:1::11]:80')).toEqual({ ip: 'fd00:244:1::11', port: 80 });
    expect(joinHostPort('fd00::1', 8080)).toBe('[fd00::1]:8080');
    expect(() => splitHostPort('nope')).toThrow();
  });
});
