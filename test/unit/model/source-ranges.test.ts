import { describe, expect, it } from 'vitest';
import { admittedSources, buildDesiredState, parseIP } from '../../../src/model/index.js';
import { ep, NODE, slice, svc } from './fixtures.js';

const ip = (s: string) => { const r = parseIP(s); if (!r.ok) throw new Error(s); return r.ip; };
const node4 = ip('192.168.1.10');

describe('admittedSources: the sources a load-balancer frontend admits', () => {
  it('disjoint ranges stay, in order', () => {
    expect(admittedSources(['203.0.113.0/24', '198.51.100.7/32'], ['192.0.2.50'], node4)).toEqual(['203.0.113.0/24', '198.51.100.7/32']);
  });

  it('a range inside another goes, whichever comes first (nft interval sets refuse overlaps)', () => {
    expect(admittedSources(['10.0.0.0/8', '10.1.0.0/16', '10.1.2.3/32'], [], undefined)).toEqual(['10.0.0.0/8']);
    expect(admittedSources(['10.1.2.3/32', '10.1.0.0/16', '203.0.113.0/24', '10.0.0.0/8'], [], undefined)).toEqual(['203.0.113.0/24', '10.0.0.0/8']);
    expect(admittedSources(['0.0.0.0/0', '10.0.0.0/8'], [], undefined)).toEqual(['0.0.0.0/0']);
    expect(admittedSources(['2001:db8::/32', '2001:db8:1::/48', 'fd00::/8'], [], undefined)).toEqual(['2001:db8::/32', 'fd00::/8']);
  });

  it('a range that holds the node\'s IP admits the LB IPs too, as host prefixes (kube-proxy\'s allowFromNode)', () => {
    expect(admittedSources(['203.0.113.0/24', '192.168.1.0/24'], ['198.51.100.20', '198.51.100.21'], node4))
      .toEqual(['203.0.113.0/24', '192.168.1.0/24', '198.51.100.20/32', '198.51.100.21/32']);
    expect(admittedSources(['2001:db8::/32'], ['2001:db9::1'], ip('2001:db8::10'))).toEqual(['2001:db8::/32', '2001:db9::1/128']);
  });

  it('no range holds the node: the LB IPs are not admitted; an LB IP a range holds already is not added', () => {
    expect(admittedSources(['203.0.113.0/24'], ['198.51.100.20'], node4)).toEqual(['203.0.113.0/24']);
    expect(admittedSources(['192.168.0.0/16'], ['192.168.7.7'], node4)).toEqual(['192.168.0.0/16']);
    expect(admittedSources(['192.168.1.0/24'], ['198.51.100.20'], undefined)).toEqual(['192.168.1.0/24']);
  });
});

describe('the desired state\'s load-balancer frontends', () => {
  const lb = (ranges: string[], ingress: string[]) => svc({
    spec: { type: 'LoadBalancer', loadBalancerSourceRanges: ranges, ports: [{ name: 'http', port: 80, targetPort: 8080, nodePort: 30080 }] },
    status: { loadBalancer: { ingress: ingress.map((i) => ({ ip: i })) } },
  });
  const frontends = (s: unknown, node = NODE) => buildDesiredState({ services: [s], endpointSlices: [slice({ endpoints: [ep('10.244.1.1', { node: 'node-a' })] })], node })
    .state.services.get('default/web:http')!.frontends;

  it('carry the admitted sources: nested ranges folded, the LB IPs added when a range holds the node\'s primary IP', () => {
    const fs = frontends(lb(['192.168.0.0/16', '192.168.1.0/24'], ['198.51.100.20', '198.51.100.21']));
    for (const f of fs.filter((x) => x.kind === 'loadBalancer')) {
      expect(f.sourceRanges).toEqual(['192.168.0.0/16', '198.51.100.20/32', '198.51.100.21/32']);
    }
    expect(fs.filter((x) => x.kind !== 'loadBalancer').every((x) => x.sourceRanges === undefined)).toBe(true);
  });

  it('a range holding only a secondary node address does not admit them: kube-proxy judges by the node IP', () => {
    // NODE's addresses: 192.168.1.10 (primary), 10.0.0.5.
    const f = frontends(lb(['10.0.0.0/24'], ['198.51.100.20'])).find((x) => x.kind === 'loadBalancer')!;
    expect(f.sourceRanges).toEqual(['10.0.0.0/24']);
  });
});
