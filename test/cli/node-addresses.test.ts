import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect } from 'vitest';
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
});
