import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { readDefaultRoutes } from '../../src/cli/node-addresses.js';
import { packageRoot } from '../../src/native/index.js';
import { kernelIt } from '../support/capability.js';
import { TestNetns } from '../support/netns.js';

const it = kernelIt();

describe('interfaceAddresses: the node addresses NodePorts are served on by default', () => {
  let ns: TestNetns;
  beforeAll(() => {
    ns = TestNetns.create('addrs');
    // A node device, a second NIC with both families, and two devices that hold service VIPs:
    // ours (ipvs mode) and upstream kube-proxy's ipvs mode's, left behind on a switch.
    const pairs: [string, string[]][] = [
      ['eth0', ['192.168.5.10/24']],
      ['eth1', ['10.77.0.1/24', 'fd00:77::1/64']],
      ['ekp-ipvs0', ['10.96.0.1/32']],
      ['kube-ipvs0', ['10.96.0.10/32']],
    ];
    pairs.forEach(([dev, addrs], i) => {
      ns.ip('link', 'add', dev, 'type', 'veth', 'peer', 'name', `ekptp${i}`);
      for (const a of addrs) ns.ip('addr', 'add', a, 'dev', dev, ...(a.includes(':') ? ['nodad'] : []));
      ns.ip('link', 'set', dev, 'up');
      ns.ip('link', 'set', `ekptp${i}`, 'up');
    });
  });
  afterAll(() => ns?.destroy());

  const addresses = (devices: string[] | null): string[] => {
    const mod = join(packageRoot(), 'dist', 'cli', 'node-addresses.js');
    const script = `import(${JSON.stringify(mod)}).then((m) => process.stdout.write(JSON.stringify(m.interfaceAddresses(${JSON.stringify(devices)}))))`;
    return JSON.parse(ns.exec([process.execPath, '-e', script])) as string[];
  };

  it('every device but lo and the VIP holders; IPv4 first; no link-local IPv6', () => {
    const all = addresses(null);
    expect([...all].sort()).toEqual(['10.77.0.1', '192.168.5.10', 'fd00:77::1']);
    expect(all.at(-1)).toBe('fd00:77::1');
  });

  it('only the --devices given', () => {
    expect(addresses(['eth1'])).toEqual(['10.77.0.1', 'fd00:77::1']);
  });

  it('the default route\'s device first in its family: the primary address, whatever the kernel lists first', () => {
    expect(addresses(null).slice(0, 2)).toEqual(['192.168.5.10', '10.77.0.1']);
    ns.ip('route', 'add', 'default', 'via', '10.77.0.2', 'dev', 'eth1');
    try {
      expect(addresses(null)).toEqual(['10.77.0.1', '192.168.5.10', 'fd00:77::1']);
    } finally {
      ns.ip('route', 'del', 'default');
    }
  });
});

describe('readDefaultRoutes', () => {
  const files: Record<string, string> = {
    '/proc/net/route': [
      'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT',
      '*\t00000000\t00000000\t0201\t0\t0\t0\t00000000\t0\t0\t0',
      'eth1\t00000000\t0100A8C0\t0003\t0\t0\t00000064\t00000000\t0\t0\t0',
      'eth0\t00000000\t0100A8C0\t0003\t0\t0\t00000000\t00000000\t0\t0\t0',
      'eth2\t0000000A\t00000000\t0001\t0\t0\t00000000\t000000FF\t0\t0\t0',
    ].join('\n'),
    '/proc/net/ipv6_route': [
      'fd000000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0',
      '00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo',
      '00000000000000000000000000000000 00 00000000000000000000000000000000 00 fd000000000000000000000000000001 00000400 00000003 00000000 00000003     eth3',
    ].join('\n'),
  };

  it('the lowest metric per family; reject routes and other prefixes are no default route', () => {
    expect(readDefaultRoutes((p) => files[p]!)).toEqual({ 4: 'eth0', 6: 'eth3' });
  });

  it('none without a default route, or without the files', () => {
    expect(readDefaultRoutes((p) => files[p]!.split('\n').filter((l) => !/^(eth[01]|0{32} 00 .* eth3$)/.test(l)).join('\n'))).toEqual({});
    expect(readDefaultRoutes(() => { throw new Error('ENOENT'); })).toEqual({});
  });
});
