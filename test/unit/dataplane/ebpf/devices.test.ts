import { describe, expect, it } from 'vitest';
import { classifyDevices, wantsXdp, type Device, type ListedLink } from '../../../../src/dataplane/ebpf/devices.js';

const nic: Device = { name: 'eth0', ifindex: 2, node: true };
const veth: Device = { name: 'eth0', ifindex: 3, node: true, kind: 'veth' };
const bond: Device = { name: 'bond0', ifindex: 4, node: true, kind: 'bond' };
const pod: Device = { name: 'lxc1', ifindex: 5, node: false, kind: 'veth' };

describe('which node devices get XDP', () => {
  it('auto: NICs (and other drivers that hand XDP their own buffers), never a veth', () => {
    expect(wantsXdp(nic, 'auto')).toBe(true);
    expect(wantsXdp(bond, 'auto')).toBe(true);
    expect(wantsXdp(veth, 'auto')).toBe(false);
  });
  it('on: every node device; off: none; pod-facing devices never', () => {
    expect(wantsXdp(veth, 'on')).toBe(true);
    expect(wantsXdp(nic, 'off')).toBe(false);
    expect(wantsXdp(pod, 'on')).toBe(false);
  });
});

describe('which devices are the node\'s, a pod\'s, or a port of the node\'s (nothing attached)', () => {
  const global = [{ scope: 'global' }];
  const link = (ifname: string, ifindex: number, extra: Partial<ListedLink> = {}): ListedLink => ({ ifname, ifindex, ...extra });
  const port = (ifname: string, ifindex: number, master: string, kind: string | undefined, slave: string) =>
    link(ifname, ifindex, { master, linkinfo: { ...(kind ? { info_kind: kind } : {}), info_slave_kind: slave } });
  const links: ListedLink[] = [
    link('lo', 1),
    link('bond0', 2, { addr_info: global, linkinfo: { info_kind: 'bond' } }),
    port('eno1', 3, 'bond0', undefined, 'bond'),
    port('eno2', 4, 'bond0', undefined, 'bond'),
    link('br0', 5, { addr_info: global, linkinfo: { info_kind: 'bridge' } }), // the default route's
    port('eth0', 6, 'br0', 'veth', 'bridge'),
    port('vnet0', 7, 'br0', 'tun', 'bridge'),
    link('cni0', 8, { addr_info: global, linkinfo: { info_kind: 'bridge' } }), // flannel's: pods behind it
    port('veth1a2b', 9, 'cni0', 'veth', 'bridge'),
    link('brvm', 10, { addr_info: global, linkinfo: { info_kind: 'bridge' } }),
    port('enp2s0', 11, 'brvm', undefined, 'bridge'),
    link('lxc12', 12, { linkinfo: { info_kind: 'veth' } }),
  ];
  const roles = (devices: Device[]) => Object.fromEntries(devices.map((d) => [d.name, d.loopback ? 'loopback' : d.node ? 'node' : d.uplinkPort ? 'port' : 'pod']));

  it('a bond\'s NICs, the uplink bridge\'s ports and a NIC in a bridge are the node\'s ports; cni0\'s veths and routed veths are pods', () => {
    expect(roles(classifyDevices(links, null, new Set([5])))).toEqual({
      lo: 'loopback', bond0: 'node', eno1: 'port', eno2: 'port', br0: 'node', eth0: 'port', vnet0: 'port',
      cni0: 'node', veth1a2b: 'pod', brvm: 'node', enp2s0: 'port', lxc12: 'pod',
    });
  });

  it('a veth in a bridge without the default route is a pod\'s; --devices decides which masters are the node\'s', () => {
    expect(roles(classifyDevices(links, null, new Set([2])))).toMatchObject({ eth0: 'pod', eno1: 'port' });
    expect(roles(classifyDevices(links, ['bond0'], new Set([2])))).toMatchObject({ bond0: 'node', eno1: 'port', br0: 'pod', eth0: 'pod', cni0: 'pod', veth1a2b: 'pod' });
  });
});
