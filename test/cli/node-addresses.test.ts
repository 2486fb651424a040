import { afterAll, beforeAll, describe, expect, it as plainIt } from 'vitest';
import { interfaceAddresses, localAddresses, type KernelAddress, type KernelDefaultRoute } from '../../src/cli/node-addresses.js';
import { withNetns } from '../../src/native/index.js';
import { kernelIt } from '../support/capability.js';
import { TestNetns } from '../support/netns.js';

const it = kernelIt();

describe('interfaceAddresses in a namespace of its own: the node addresses NodePorts are served on by default', () => {
  let ns: TestNetns;
  beforeAll(() => {
    ns = TestNetns.create('addrs');
    const dev = (name: string, i: number, addrs: string[][], peerUp = true) => {
      ns.ip('link', 'add', name, 'type', 'veth', 'peer', 'name', `ekptp${i}`);
      for (const a of addrs) ns.ip('addr', 'add', ...a, 'dev', name);
      ns.ip('link', 'set', name, 'up');
      if (peerUp) ns.ip('link', 'set', `ekptp${i}`, 'up');
    };
    // With a host address too, as kube-vip adds an LB VIP: not a NodePort address.
    dev('eth0', 0, [['192.168.5.10/24'], ['192.168.5.200/32'], ['fd00:55::10/64', 'nodad']]);
    // A second NIC, with an address not to send from (deprecated): served, never the primary.
    dev('eth1', 1, [['10.77.0.1/24'], ['10.77.0.9/24'], ['fd00:77::1/64', 'nodad'], ['fd00:79::1/64', 'nodad', 'preferred_lft', '0']]);
    // No carrier (a bridge with no port up looks the same): its IPv4 address is still local; its
    // IPv6 one never finishes DAD, so it is tentative and takes no traffic.
    dev('nocarrier', 2, [['10.78.0.1/24'], ['fd00:78::1/64']], false);
    // Devices that hold service VIPs: ours (ipvs mode) and upstream kube-proxy's ipvs mode's.
    dev('ekp-ipvs0', 3, [['10.96.0.1/32']]);
    dev('kube-ipvs0', 4, [['10.96.0.10/32']]);
  });
  afterAll(() => ns?.destroy());

  const addresses = (devices: string[] | null = null) => withNetns(ns.path, () => interfaceAddresses(devices));

  it('every device but lo and the VIP holders, with or without carrier; IPv4 first; no link-local or tentative IPv6, no host addresses', () => {
    const all = addresses();
    expect([...all].sort()).toEqual(['10.77.0.1', '10.77.0.9', '10.78.0.1', '192.168.5.10', 'fd00:55::10', 'fd00:77::1', 'fd00:79::1']);
    expect(all.slice(4).sort()).toEqual(['fd00:55::10', 'fd00:77::1', 'fd00:79::1']);
  });

  it('a VIP held here (a host address) is still local: for "is this frontend ours?", and for --nodeport-addresses CIDRs', () => {
    const local = withNetns(ns.path, () => localAddresses());
    expect(local).toContain('192.168.5.200');
    expect(local).toContain('10.96.0.10'); // kube-ipvs0's are local in the kernel's eyes too
    expect(local).not.toContain('127.0.0.1');
    expect(withNetns(ns.path, () => interfaceAddresses(null, undefined, { hostAddresses: true }))).toContain('192.168.5.200');
  });

  it('only the --devices given', () => {
    const eth1 = addresses(['eth1']);
    expect(eth1.slice(0, 2)).toEqual(['10.77.0.1', '10.77.0.9']);
    expect(eth1[2]).toBe('fd00:77::1'); // the deprecated one is not the primary
    expect(eth1.slice(2).sort()).toEqual(['fd00:77::1', 'fd00:79::1']);
  });

  it('the main table\'s default route picks the primary: its preferred source, else its device\'s first address; other tables do not count', () => {
    const before = addresses();
    try {
      // A default route in another table (source routing, a VPN's table): not the node's primary.
      ns.ip('-6', 'route', 'add', 'default', 'via', 'fd00:77::2', 'dev', 'eth1', 'table', '100');
      ns.ip('route', 'add', 'default', 'via', '10.77.0.2', 'dev', 'eth1', 'table', '100');
      expect(addresses()).toEqual(before);

      ns.ip('route', 'add', 'default', 'via', '10.77.0.2', 'dev', 'eth1');
      ns.ip('-6', 'route', 'add', 'default', 'via', 'fd00:77::2', 'dev', 'eth1');
      const viaEth1 = addresses();
      expect(viaEth1[0]).toBe('10.77.0.1');
      expect(viaEth1[4]).toBe('fd00:77::1');
      // A default route's own source may be a host address (GCE gives eth0 a /32): kept as the primary.
      ns.ip('route', 'replace', 'default', 'via', '10.77.0.2', 'dev', 'eth1', 'src', '192.168.5.200');
      expect(addresses()[0]).toBe('192.168.5.200');

      ns.ip('route', 'replace', 'default', 'via', '10.77.0.2', 'dev', 'eth1', 'src', '10.77.0.9');
      expect(addresses()[0]).toBe('10.77.0.9');
    } finally {
      ns.ip('route', 'flush', 'table', '100');
      ns.ip('-6', 'route', 'flush', 'table', '100');
      ns.tryExec(['ip', 'route', 'del', 'default']);
      ns.tryExec(['ip', '-6', 'route', 'del', 'default']);
    }
  });
});

describe('interfaceAddresses: choosing the primary', () => {
  const addr = (ifindex: number, address: string, flags = 0, prefixLen = 24): KernelAddress =>
    ({ ifindex, ifname: `eth${ifindex}`, family: address.includes(':') ? 6 : 4, address, prefixLen, scope: 0, flags });
  const route = (family: 4 | 6, oif: number, priority: number, o: Partial<KernelDefaultRoute> = {}): KernelDefaultRoute =>
    ({ family, table: 254, priority, oif, prefsrc: null, ...o });
  // 10.0.0.2 is a secondary address (IPv4's 0x01), as much ours; fd00:2::1 a temporary one (IPv6's 0x01).
  const addrs = [addr(1, '192.168.1.1'), addr(2, '10.0.0.1'), addr(2, '10.0.0.2', 0x01), addr(1, 'fd00:1::1'), addr(2, 'fd00:2::1', 0x01), addr(2, 'fd00:2::2')];
  const view = (routes: KernelDefaultRoute[]) => ({ addresses: () => addrs, defaultRoutes: () => routes });

  plainIt('no default route: the kernel\'s order', () => {
    expect(interfaceAddresses(null, view([]))).toEqual(['192.168.1.1', '10.0.0.1', '10.0.0.2', 'fd00:1::1', 'fd00:2::2']);
  });

  plainIt('the default route of lowest metric; a temporary IPv6 address is never the primary (nor listed)', () => {
    expect(interfaceAddresses(null, view([route(4, 1, 100), route(4, 2, 50), route(6, 2, 1024)]))).toEqual(['10.0.0.1', '192.168.1.1', '10.0.0.2', 'fd00:2::2', 'fd00:1::1']);
  });

  plainIt('a device with only a host address (GCE\'s eth0 /32): its address is the primary; other host addresses are left out', () => {
    const gce = [addr(1, '10.128.0.2', 0, 32), addr(1, '10.128.0.50', 0, 32), addr(2, '172.17.0.1', 0, 16)];
    expect(interfaceAddresses(null, { addresses: () => gce, defaultRoutes: () => [route(4, 1, 0)] })).toEqual(['10.128.0.2', '172.17.0.1']);
  });

  plainIt('a preferred source that is not a usable address of ours falls back to the device\'s first', () => {
    expect(interfaceAddresses(null, view([route(4, 2, 0, { prefsrc: '10.0.0.2' }), route(6, 2, 0, { prefsrc: 'fd00:2::1' })]))).toEqual(['10.0.0.2', '192.168.1.1', '10.0.0.1', 'fd00:2::2', 'fd00:1::1']);
  });
});
