// Which listed conntrack entries the reconciler deletes, for a given desired state: whatever
// the previous syncs (or a previous process) did.
import { describe, expect, it } from 'vitest';
import type { ConntrackEntry } from '../../../src/dataplane/conntrack-list.js';
import { entryDeleteLine, staleUdpEntries } from '../../../src/dataplane/udp-reconcile.js';
import { buildDesiredState, type DesiredService } from '../../../src/model/index.js';
import { ep, NODE, slice, svc } from '../model/fixtures.js';

const PORT = { name: 'dns', port: 53, protocol: 'UDP', targetPort: 5353, nodePort: 30053 };
const CLIENT = '10.244.9.9';

/**
 * UDP "dns": ClusterIP 10.96.0.10:53, external IP 203.0.113.9, LB IP 198.51.100.7, NodePort
 * 30053 (on NODE's addresses 10.0.0.5 and 192.168.1.10), endpoints on 5353 unless `epPort`.
 */
function dns(ips: string[], epPort = 5353, extra: Record<string, unknown> = {}): DesiredService[] {
  return [...buildDesiredState({
    services: [svc({
      name: 'dns',
      spec: { type: 'LoadBalancer', externalIPs: ['203.0.113.9'], ports: [PORT], ...extra },
      status: { loadBalancer: { ingress: [{ ip: '198.51.100.7' }] } },
    })],
    endpointSlices: ips.length ? [slice({ service: 'dns', ports: [{ name: 'dns', port: epPort, protocol: 'UDP' }], endpoints: ips.map((ip) => ep(ip, { node: 'node-b' })) })] : [],
    node: NODE,
  }).state.services.values()];
}

/** An entry CLIENT:sport → dst:dport whose replies come from replySrc:replyPort. */
function entry(dst: string, dport: number, replySrc: string, replyPort: number, sport = 40000): ConntrackEntry {
  const family = dst.includes(':') ? 6 : 4;
  const client = family === 6 ? 'fd00:244::99' : CLIENT;
  return { family, orig: { src: client, dst, sport, dport }, reply: { src: replySrc, dst: client, sport: replyPort, dport: sport } };
}

const stale = (entries: ConntrackEntry[], services: DesiredService[]) => staleUdpEntries(entries, services).map((e) => `${e.orig.dst}:${e.orig.dport} <- ${e.reply.src}:${e.reply.sport}`);

describe('conntrack reconciler: stale entries for the desired state', () => {
  it('an entry to any frontend (cluster, external, LB, each NodePort address) answered by a gone endpoint goes; a live endpoint\'s stays', () => {
    const frontends: [string, number][] = [['10.96.0.10', 53], ['203.0.113.9', 53], ['198.51.100.7', 53], ['10.0.0.5', 30053], ['192.168.1.10', 30053]];
    const entries = frontends.flatMap(([a, p]) => [entry(a, p, '10.244.1.1', 5353), entry(a, p, '10.244.1.2', 5353, 40001)]);
    expect(stale(entries, dns(['10.244.1.1']))).toEqual(frontends.map(([a, p]) => `${a}:${p} <- 10.244.1.2:5353`));
  });

  it('a port with no endpoint: every entry to it goes, the un-NATed ones (answered by the frontend itself) too', () => {
    const entries = [entry('10.96.0.10', 53, '10.244.1.1', 5353), entry('10.96.0.10', 53, '10.96.0.10', 53, 40001), entry('192.168.1.10', 30053, '192.168.1.10', 30053)];
    expect(stale(entries, dns([]))).toEqual(['10.96.0.10:53 <- 10.244.1.1:5353', '10.96.0.10:53 <- 10.96.0.10:53', '192.168.1.10:30053 <- 192.168.1.10:30053']);
  });

  it('an un-NATed entry made before the first endpoint goes once there is one', () => {
    expect(stale([entry('10.96.0.10', 53, '10.96.0.10', 53), entry('198.51.100.7', 53, '198.51.100.7', 53)], dns(['10.244.1.1'])))
      .toEqual(['10.96.0.10:53 <- 10.96.0.10:53', '198.51.100.7:53 <- 198.51.100.7:53']);
  });

  it('flows to serving endpoints stay, even those no new flow goes to: terminating (draining) ones, and those a Local policy leaves out', () => {
    const services = [...buildDesiredState({
      services: [svc({ name: 'dns', spec: { internalTrafficPolicy: 'Local', ports: [PORT] } })],
      endpointSlices: [slice({ service: 'dns', ports: [{ name: 'dns', port: 5353, protocol: 'UDP' }], endpoints: [
        ep('10.244.1.1', { node: 'node-a' }),
        ep('10.244.1.2', { node: 'node-a', ready: false, serving: true, terminating: true }),
        ep('10.244.2.1', { node: 'node-b' }),
        ep('10.244.2.2', { node: 'node-b', ready: false, serving: false, terminating: true }),
      ] })],
      node: NODE,
    }).state.services.values()];
    expect(services[0]!.internalBackends.backends.map((b) => b.ip)).toEqual(['10.244.1.1']);
    const entries = ['10.244.1.1', '10.244.1.2', '10.244.2.1', '10.244.2.2'].map((ip, i) => entry('10.96.0.10', 53, ip, 5353, 40000 + i));
    expect(stale(entries, services)).toEqual(['10.96.0.10:53 <- 10.244.2.2:5353']);
  });

  it('an endpoint that keeps its IP but moves its port is another endpoint', () => {
    const entries = [entry('10.96.0.10', 53, '10.244.1.1', 5353), entry('10.96.0.10', 53, '10.244.1.1', 5354, 40001)];
    expect(stale(entries, dns(['10.244.1.1'], 5354))).toEqual(['10.96.0.10:53 <- 10.244.1.1:5353']);
  });

  it('a host-network endpoint on the node address: its NATed entries stay, an un-NATed one to its NodePort goes', () => {
    const entries = [entry('192.168.1.10', 30053, '192.168.1.10', 5353), entry('192.168.1.10', 30053, '192.168.1.10', 30053, 40001)];
    expect(stale(entries, dns(['192.168.1.10']))).toEqual(['192.168.1.10:30053 <- 192.168.1.10:30053']);
  });

  it('untouched: other ports of a VIP, other addresses, NodePort numbers on addresses that serve none, TCP ports', () => {
    const entries = [
      entry('10.96.0.10', 54, '10.96.0.10', 54),
      entry('10.96.0.11', 53, '10.96.0.11', 53),
      // A flow of the node's (or a masqueraded pod's) to a remote host whose port is a NodePort number.
      entry('8.8.8.8', 30053, '8.8.8.8', 30053),
    ];
    expect(stale(entries, dns([]))).toEqual([]);
    const tcp = dns([], 5353, { ports: [{ ...PORT, protocol: 'TCP' }] });
    expect(tcp[0]!.protocol).toBe('TCP');
    expect(stale([entry('10.96.0.10', 53, '10.96.0.10', 53)], tcp)).toEqual([]);
  });

  it('localhost NodePorts (iptables: 127.0.0.0/8): by port, IPv4 only', () => {
    const entries = [entry('127.0.0.1', 30053, '10.244.1.2', 5353), entry('127.0.0.1', 30053, '10.244.1.1', 5353, 40001), entry('127.0.0.1', 30054, '127.0.0.1', 30054)];
    expect(stale(entries, dns(['10.244.1.1']))).toEqual(['127.0.0.1:30053 <- 10.244.1.2:5353']);
  });

  it('IPv6 frontends and endpoints', () => {
    const v6 = [...buildDesiredState({
      services: [svc({ name: 'dns', spec: { ipFamilies: ['IPv6'], clusterIP: 'fd00:96::10', clusterIPs: ['fd00:96::10'], ports: [{ ...PORT, nodePort: undefined }] } })],
      endpointSlices: [slice({ service: 'dns', addressType: 'IPv6', ports: [{ name: 'dns', port: 5353, protocol: 'UDP' }], endpoints: [ep('fd00:244::1', { node: 'node-b' })] })],
      node: NODE,
    }).state.services.values()];
    const entries = [entry('fd00:96::10', 53, 'fd00:244::1', 5353), entry('fd00:96::10', 53, 'fd00:244::2', 5353, 40001)];
    expect(stale(entries, v6)).toEqual(['fd00:96::10:53 <- fd00:244::2:5353']);
  });

  it('a deletion line names the entry\'s whole original tuple and its reply source, so nothing else goes', () => {
    expect(entryDeleteLine(entry('10.96.0.10', 53, '10.244.1.2', 5353)))
      .toBe('-D -p udp --orig-src 10.244.9.9 --orig-dst 10.96.0.10 --orig-port-src 40000 --orig-port-dst 53 --reply-src 10.244.1.2 --reply-port-src 5353');
    expect(entryDeleteLine(entry('fd00:96::10', 53, 'fd00:244::2', 5353)))
      .toBe('-D -p udp -f ipv6 --orig-src fd00:244::99 --orig-dst fd00:96::10 --orig-port-src 40000 --orig-port-dst 53 --reply-src fd00:244::2 --reply-port-src 5353');
  });
});
