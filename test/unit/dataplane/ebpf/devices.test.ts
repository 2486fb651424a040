import { describe, expect, it } from 'vitest';
import { wantsXdp, type Device } from '../../../../src/dataplane/ebpf/devices.js';

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
