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
  const port = (ifname: string, ifindex: number, master: string, kind: string | undefined, slave: string, extra: Partial<ListedLink> = {}) =>
    link(ifname, ifindex, { master, linkinfo: { ...(kind ? { info_kind: kind } : {}), info_slave_kind: slave }, ...extra });
  const roles = (devices: Device[]) => Object.fromEntries(devices.map((d) => [d.name, d.loopback ? 'loopback' : d.node ? 'node' : d.uplinkPort ? 'port' : 'pod']));

  it('bare metal with VMs (Proxmox): NICs in a bond in the address-holding bridge are ports; VMs\' taps, cni0\'s veths and routed veths are not', () => {
    const links: ListedLink[] = [
      link('lo', 1),
      port('eno1', 2, 'bond0', undefined, 'bond'),
      port('eno2', 3, 'bond0', undefined, 'bond'),
      port('bond0', 4, 'vmbr0', 'bond', 'bridge'), // no address of its own
      link('vmbr0', 5, { addr_info: global, linkinfo: { info_kind: 'bridge' } }),
      port('tap100i0', 6, 'vmbr0', 'tun', 'bridge'),
      link('cni0', 7, { addr_info: global, linkinfo: { info_kind: 'bridge' } }), // flannel's: pods behind it
      port('veth1a2b', 8, 'cni0', 'veth', 'bridge', { link: 'if2' }),
      link('lxc12', 9, { linkinfo: { info_kind: 'veth' }, link: 'if2' }),
    ];
    expect(roles(classifyDevices(links, null))).toEqual({
      lo: 'loopback', eno1: 'port', eno2: 'port', bond0: 'port', vmbr0: 'node', tap100i0: 'pod', cni0: 'node', veth1a2b: 'pod', lxc12: 'pod',
    });
  });

  it('the lower device of an address-holding VLAN or macvlan, and a macvlan in a bridge, are ports; a veth in the bridge (flat pod network) is a pod', () => {
    const links: ListedLink[] = [
      link('eth0', 2, { linkinfo: { info_kind: 'veth' }, link: 'fab1' }),
      port('uplink0', 3, 'br0', 'macvlan', 'bridge', { link: 'eth0' }),
      link('br0', 4, { addr_info: global, linkinfo: { info_kind: 'bridge' } }),
      port('vethpod', 5, 'br0', 'veth', 'bridge'),
      link('eno1', 6),
      link('eno1.100', 7, { addr_info: global, link: 'eno1', linkinfo: { info_kind: 'vlan' } }),
    ];
    expect(roles(classifyDevices(links, null))).toEqual({
      eth0: 'port', uplink0: 'port', br0: 'node', vethpod: 'pod', eno1: 'port', 'eno1.100': 'node',
    });
  });

  it('Open vSwitch: with an OVS bridge holding the node\'s address, its NICs and tunnels are ports, its veths pods\'; without one, nothing is taken', () => {
    const ovs = (name: string, ifindex: number, kind: string | undefined) => port(name, ifindex, 'ovs-system', kind, 'openvswitch');
    const links: ListedLink[] = [
      link('ovs-system', 2, { linkinfo: { info_kind: 'openvswitch' } }),
      { ...ovs('br-ex', 3, 'openvswitch'), addr_info: global },
      ovs('eno1', 4, undefined),
      ovs('genev_sys_6081', 5, 'geneve'),
      ovs('a1b2c3d4e5f6a7b', 6, 'veth'),
    ];
    expect(roles(classifyDevices(links, null))).toEqual({ 'ovs-system': 'pod', 'br-ex': 'node', eno1: 'port', genev_sys_6081: 'port', a1b2c3d4e5f6a7b: 'pod' });
    const withoutNode = links.map((l) => (l.ifname === 'br-ex' ? { ...l, addr_info: [] } : l));
    expect(roles(classifyDevices([...withoutNode, link('eth9', 7, { addr_info: global })], null))).toMatchObject({ eno1: 'pod', genev_sys_6081: 'pod' });
  });

  it('--devices decides which devices are the node\'s, and so whose ports are', () => {
    const links: ListedLink[] = [
      link('bond0', 2, { addr_info: global, linkinfo: { info_kind: 'bond' } }),
      port('eno1', 3, 'bond0', undefined, 'bond'),
      link('br1', 4, { addr_info: global, linkinfo: { info_kind: 'bridge' } }),
      port('eno2', 5, 'br1', undefined, 'bridge'),
    ];
    expect(roles(classifyDevices(links, ['bond0']))).toEqual({ bond0: 'node', eno1: 'port', br1: 'pod', eno2: 'pod' });
  });
});
