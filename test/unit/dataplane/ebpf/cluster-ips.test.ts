import { describe, expect, it } from 'vitest';
import { encodeSvcCidrKey, encodeVipKey, LAYOUT } from '../../../../src/dataplane/ebpf/abi.js';
import { ClusterIpWriter, commonPrefix, EXTERNAL_IPS } from '../../../../src/dataplane/ebpf/cluster-ips.js';
import { buildDesiredState, type DesiredState } from '../../../../src/model/index.js';
import { NODE, svc } from '../../model/fixtures.js';
import { FakeMap } from './fake-map.js';

const state = (services: unknown[]): DesiredState => buildDesiredState({ services, endpointSlices: [], node: NODE }).state;
/** ClusterIP → how many service ports the map says have it. */
const contents = (m: FakeMap) => Object.fromEntries([...m.data].map(([k, v]) => [k, v.readUInt32LE(0)]));
const key = (ip: string) => encodeVipKey(ip).toString('hex');

const twoPorts = svc({ name: 'dns', spec: { clusterIP: '10.96.0.10', clusterIPs: ['10.96.0.10', 'fd00:96::a'], ipFamilies: ['IPv4', 'IPv6'], ipFamilyPolicy: 'RequireDualStack', ports: [
  { name: 'udp', port: 53, protocol: 'UDP', targetPort: 53 }, { name: 'tcp', port: 53, protocol: 'TCP', targetPort: 53 },
] } });
const web = svc({ name: 'web', spec: { clusterIP: '10.96.0.20', clusterIPs: ['10.96.0.20'] } });
const headless = svc({ name: 'headless', spec: { clusterIP: 'None', clusterIPs: ['None'] } });

describe('ClusterIpWriter (ekp_vip_v1)', () => {
  it('one entry per ClusterIP of either family, counting its service ports; headless Services have none', () => {
    const m = new FakeMap('vip', LAYOUT.ekp_vip_key.size, LAYOUT.ekp_vip_val.size);
    new ClusterIpWriter(m).apply({ state: state([twoPorts, web, headless]), changed: 'all' });
    expect(contents(m)).toEqual({ [key('10.96.0.10')]: 2, [key('fd00:96::a')]: 2, [key('10.96.0.20')]: 1 });
  });

  it('with EXTERNAL_IPS (ekp_extvip_v1): the ExternalIPs and LoadBalancer ingress IPs, never a ClusterIP', () => {
    const m = new FakeMap('extvip', LAYOUT.ekp_vip_key.size, LAYOUT.ekp_vip_val.size);
    const lb = svc({
      name: 'lb', spec: { type: 'LoadBalancer', clusterIP: '10.96.0.30', clusterIPs: ['10.96.0.30'], externalIPs: ['203.0.113.10'], ports: [{ port: 80, protocol: 'TCP', targetPort: 80, nodePort: 30080 }] },
      status: { loadBalancer: { ingress: [{ ip: '198.51.100.7' }] } },
    });
    const w = new ClusterIpWriter(m, null, null, { kinds: EXTERNAL_IPS });
    w.apply({ state: state([lb, web]), changed: 'all' });
    expect(contents(m)).toEqual({ [key('203.0.113.10')]: 1, [key('198.51.100.7')]: 1 });
    w.apply({ state: state([web]), changed: 'all' });
    expect(contents(m)).toEqual({});
  });

  it('partial syncs write only addresses whose count changed, and delete one when its last port goes', () => {
    const log: string[] = [];
    const m = new FakeMap('vip', LAYOUT.ekp_vip_key.size, LAYOUT.ekp_vip_val.size, log);
    const w = new ClusterIpWriter(m);
    const all = state([twoPorts, web]);
    w.apply({ state: all, changed: 'all' });
    log.length = 0;
    // A periodic sync hands every port over as changed: nothing to write.
    w.apply({ state: all, changed: new Set(all.services.keys()) });
    expect(log).toEqual([]);
    const dnsUdp = [...all.services.keys()].filter((k) => k.startsWith('default/dns:udp'));
    const fewer = state([svc({ name: 'dns', spec: { ...(twoPorts.spec as object), ports: [{ name: 'tcp', port: 53, protocol: 'TCP', targetPort: 53 }] } }), web]);
    w.apply({ state: fewer, changed: new Set(dnsUdp) });
    expect(contents(m)).toEqual({ [key('10.96.0.10')]: 1, [key('fd00:96::a')]: 1, [key('10.96.0.20')]: 1 });
    w.apply({ state: state([twoPorts]), changed: new Set([...all.services.keys()].filter((k) => k.startsWith('default/web:'))) });
    expect(m.data.has(key('10.96.0.20'))).toBe(false);
  });

  it('a full sync deletes what no service has (a previous instance\'s), and a failed write makes the next apply full', () => {
    const m = new FakeMap('vip', LAYOUT.ekp_vip_key.size, LAYOUT.ekp_vip_val.size);
    m.update(encodeVipKey('10.96.9.9'), Buffer.alloc(4));
    const w = new ClusterIpWriter(m);
    w.apply({ state: state([web]), changed: 'all' });
    expect(Object.keys(contents(m))).toEqual([key('10.96.0.20')]);
    const update = m.updateBatch.bind(m);
    m.updateBatch = () => { throw new Error('E2BIG'); };
    const both = state([web, twoPorts]);
    expect(() => w.apply({ state: both, changed: new Set([...both.services.keys()].filter((k) => k.startsWith('default/dns'))) })).toThrow('E2BIG');
    m.updateBatch = update;
    m.update(encodeVipKey('10.96.8.8'), Buffer.alloc(4));
    w.apply({ state: both, changed: new Set() });
    expect(contents(m)).toEqual({ [key('10.96.0.10')]: 2, [key('fd00:96::a')]: 2, [key('10.96.0.20')]: 1 });
  });

  it('the ClusterIPs\' common prefix per family goes to ekp_vipnet_v1 when addresses come or go, so other traffic skips the lookup', () => {
    const ip4 = (b: Buffer) => [...b.subarray(0, 4)].join('.');
    const p = commonPrefix([encodeVipKey('10.96.0.10'), encodeVipKey('10.96.0.20')])!;
    expect([ip4(p.net), ip4(p.mask)]).toEqual(['10.96.0.0', '255.255.255.224']);
    const one = commonPrefix([encodeVipKey('10.96.0.10')])!;
    expect([ip4(one.net), ip4(one.mask)]).toEqual(['10.96.0.10', '255.255.255.255']);
    const wide = commonPrefix([encodeVipKey('10.96.0.10'), encodeVipKey('172.16.0.1')])!;
    expect(ip4(wide.mask)).toBe('0.0.0.0');
    expect(commonPrefix([])).toBeNull();

    const log: string[] = [];
    const m = new FakeMap('vip', LAYOUT.ekp_vip_key.size, LAYOUT.ekp_vip_val.size);
    const net = new FakeMap('vipnet', 4, LAYOUT.ekp_vipnet.size, log);
    const w = new ClusterIpWriter(m, net);
    const all = state([twoPorts, web]);
    w.apply({ state: all, changed: 'all' });
    const f = LAYOUT.ekp_vipnet.fields;
    const value = () => [...net.data.values()][0]!;
    expect(ip4(value().subarray(f.v4_net.offset)) + '/' + ip4(value().subarray(f.v4_mask.offset))).toBe('10.96.0.0/255.255.255.224');
    expect([value()[f.v4_on.offset], value()[f.v6_on.offset]]).toEqual([1, 1]);
    expect(value().subarray(f.v6_mask.offset, f.v6_mask.offset + 16).every((x) => x === 0xff)).toBe(true);
    log.length = 0;
    w.apply({ state: all, changed: new Set(all.services.keys()) });
    expect(log).toEqual([]);
    // The IPv6 ClusterIP goes with the dual-stack Service: that family is off.
    w.apply({ state: state([web]), changed: new Set(all.services.keys()) });
    expect([value()[f.v4_on.offset], value()[f.v6_on.offset]]).toEqual([1, 0]);
    expect(ip4(value().subarray(f.v4_mask.offset))).toBe('255.255.255.255');
  });

  it('Service CIDRs go to ekp_svccidr_v1 and widen the prefix to hold them; a change is written by the next apply, partial or not', () => {
    const ip4 = (b: Buffer) => [...b.subarray(0, 4)].join('.');
    const vip = new FakeMap('vip', LAYOUT.ekp_vip_key.size, LAYOUT.ekp_vip_val.size);
    const net = new FakeMap('vipnet', 4, LAYOUT.ekp_vipnet.size);
    const cidrs = new FakeMap('svccidr', LAYOUT.ekp_svccidr_key.size, LAYOUT.ekp_svccidr_val.size);
    cidrs.update(encodeSvcCidrKey('10.200.0.0/16'), Buffer.alloc(4)); // a previous instance's
    const w = new ClusterIpWriter(vip, net, cidrs);
    const f = LAYOUT.ekp_vipnet.fields;
    const v4net = () => { const v = [...net.data.values()][0]!; return `${ip4(v.subarray(f.v4_net.offset))}/${ip4(v.subarray(f.v4_mask.offset))}`; };
    const held = () => [...cidrs.data.keys()].sort();
    const base = state([web]);
    w.apply({ state: { ...base, serviceCIDRs: { 4: ['10.96.0.0/16'], 6: ['fd00:96::/112'] } }, changed: 'all' });
    expect(held()).toEqual([encodeSvcCidrKey('10.96.0.0/16'), encodeSvcCidrKey('fd00:96::/112')].map((k) => k.toString('hex')).sort());
    expect(v4net()).toBe('10.96.0.0/255.255.0.0');
    expect([...net.data.values()][0]![f.v6_on.offset]).toBe(1);
    // A second range, in a partial sync that touches no service.
    w.apply({ state: { ...base, serviceCIDRs: { 4: ['10.96.0.0/16', '10.100.0.0/24'], 6: [] } }, changed: new Set() });
    expect(held()).toEqual([encodeSvcCidrKey('10.100.0.0/24'), encodeSvcCidrKey('10.96.0.0/16')].map((k) => k.toString('hex')).sort());
    expect(v4net()).toBe('10.96.0.0/255.248.0.0');
    // None known: the prefix is the ClusterIPs' again.
    w.apply({ state: base, changed: new Set() });
    expect(held()).toEqual([]);
    expect(v4net()).toBe('10.96.0.20/255.255.255.255');
  });

  it('a Service CIDR holding a node address is left out (tc would drop traffic to the node), so are those past the map; said once; a failed write is tried again', () => {
    const vip = new FakeMap('vip', LAYOUT.ekp_vip_key.size, LAYOUT.ekp_vip_val.size);
    const net = new FakeMap('vipnet', 4, LAYOUT.ekp_vipnet.size);
    const cidrs = new FakeMap('svccidr', LAYOUT.ekp_svccidr_key.size, LAYOUT.ekp_svccidr_val.size);
    const warned: unknown[] = [];
    const w = new ClusterIpWriter(vip, net, cidrs, { localAddresses: () => ['10.0.0.5', 'fd00::10'], max: 2, warn: (msg, f) => warned.push([msg, f]) });
    const held = () => [...cidrs.data.keys()].sort();
    const keys = (...c: string[]) => c.map((x) => encodeSvcCidrKey(x).toString('hex')).sort();
    const st = { ...state([web]), serviceCIDRs: { 4: ['10.0.0.0/8', '10.96.0.0/16', '10.100.0.0/24', '10.101.0.0/24'], 6: [] } };
    w.apply({ state: st, changed: 'all' });
    expect(held()).toEqual(keys('10.96.0.0/16', '10.100.0.0/24'));
    expect(warned).toEqual([['Service CIDRs left out: their unallocated addresses are not dropped', {
      problems: ['10.0.0.0/8: holds this node\'s address 10.0.0.5', '10.101.0.0/24: more Service CIDRs than ekp_svccidr_v1 holds'],
    }]]);
    w.apply({ state: st, changed: 'all' });
    expect(warned).toHaveLength(1);
    // A write that fails: the prefix is still written, and the next apply writes the CIDRs.
    const update = cidrs.update.bind(cidrs);
    cidrs.update = () => { throw new Error('ENOMEM'); };
    const moved = { ...st, serviceCIDRs: { 4: ['10.97.0.0/16'], 6: [] } };
    w.apply({ state: moved, changed: new Set() });
    expect(warned.at(-1)).toEqual(['Service CIDRs not written: their unallocated addresses are not dropped until the next sync', { error: 'ENOMEM' }]);
    expect(held()).toEqual([]);
    cidrs.update = update;
    w.apply({ state: moved, changed: new Set() });
    expect(held()).toEqual(keys('10.97.0.0/16'));
  });
});
