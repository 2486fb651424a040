// Addresses and program configs shared by the datapath case tables, per family.
import { CFG_F, type Config } from '../../src/dataplane/ebpf/abi.js';
import type { PacketSpec } from '../support/packet.js';

export interface Net {
  family: 4 | 6;
  tag: string;
  /** A pod on this node (client). */
  pod: string;
  /** Another local pod (backend). */
  localBe: string;
  localBe2: string;
  /** Pods on other nodes (backends). */
  remoteBe: string;
  remoteBe2: string;
  clusterIp: string;
  /** This node's address: NodePort frontend and SNAT source. */
  node: string;
  /** Hairpin SNAT source. */
  hairpin: string;
  lbIp: string;
  external: string;
  external2: string;
  /** A CIDR containing `external` but not `external2`. */
  externalCidr: string;
  /** An address no service uses. */
  other: string;
}

export const V4: Net = {
  family: 4, tag: 'v4',
  pod: '10.244.0.2', localBe: '10.244.0.7', localBe2: '10.244.0.8', remoteBe: '10.244.1.5', remoteBe2: '10.244.2.9',
  clusterIp: '10.96.0.10', node: '172.18.0.2', hairpin: '169.254.42.1', lbIp: '198.51.100.7',
  external: '192.0.2.10', external2: '203.0.113.66', externalCidr: '192.0.2.0/24', other: '10.244.3.3',
};

export const V6: Net = {
  family: 6, tag: 'v6',
  pod: 'fd00:10:244::2', localBe: 'fd00:10:244::7', localBe2: 'fd00:10:244::8', remoteBe: 'fd00:10:244:1::5',
  remoteBe2: 'fd00:10:244:2::9', clusterIp: 'fd00:10:96::a', node: 'fd00:172:18::2', hairpin: 'fd00:a9fe::1',
  lbIp: '2001:db8:100::7', external: '2001:db8:ff::10', external2: '2001:db8:77::66', externalCidr: '2001:db8:ff::/48',
  other: 'fd00:10:244:3::3',
};

export const NETS = [V4, V6];

const nodeAddrs: Config = { snatV4: V4.node, snatV6: V6.node, hairpinV4: V4.hairpin, hairpinV6: V6.hairpin };

/** tc ingress on a pod-facing host veth. */
export const FROM_PODS: Config = { ...nodeAddrs, flags: CFG_F.FROM_PODS };
/** tc ingress / XDP on a node device: external origin. */
export const FROM_WIRE: Config = { ...nodeAddrs };
/** tc egress on a node device: host-originated. */
export const FROM_HOST: Config = { ...nodeAddrs, flags: CFG_F.FROM_HOST };

export const SNAT_RANGE = { min: 61000, max: 65000 };

/** A family's ICMP(v6) error kinds (port unreachable, frag-needed / packet too big, time exceeded) and an error about `inner`. */
export function icmpErrors(n: Net) {
  const v6 = n.family === 6;
  const kind = { PORT_UNREACH: v6 ? { type: 1, code: 4 } : { type: 3, code: 3 }, TOO_BIG: v6 ? { type: 2, code: 0, mtu: 1280 } : { type: 3, code: 4, mtu: 1400 }, TIME_EXCEEDED: { type: v6 ? 3 : 11, code: 0 } };
  const err = (src: string, dst: string, k: { type: number; code: number; mtu?: number }, inner: PacketSpec | Buffer): PacketSpec =>
    ({ src, dst, proto: v6 ? 'icmpv6' : 'icmp', icmp: { ...k, inner } });
  return { ...kind, err };
}
