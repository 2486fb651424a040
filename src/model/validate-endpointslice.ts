// unknown → validated discovery.k8s.io/v1 EndpointSlice. A bad address or condition drops that
// endpoint, a bad port drops that port; only a slice without name or a known addressType fails.

import type { IPFamily } from './ip.js';
import type { AddressType, EndpointHints, EndpointPort, EndpointSlice, Protocol, SliceEndpoint } from './k8s.js';
import {
  describe,
  guarded,
  isDNSLabel,
  isRecord,
  isUnset,
  own,
  readArray,
  readBool,
  readEnum,
  readIP,
  readMetadata,
  readObject,
  readPort,
  type Json,
  type ParseResult,
  type Problems,
} from './problem.js';

const ADDRESS_TYPES: readonly AddressType[] = ['IPv4', 'IPv6', 'FQDN'];
const PROTOCOLS: readonly Protocol[] = ['TCP', 'UDP', 'SCTP'];

export function parseEndpointSlice(obj: unknown): ParseResult<EndpointSlice> {
  return guarded('EndpointSlice', () => parseSliceUnguarded(obj));
}

function parseSliceUnguarded(obj: unknown): ParseResult<EndpointSlice> {
  const m = readMetadata('EndpointSlice', obj, true);
  if (!m.ok) return m;
  const p = m.read.problems;
  // Every address in the slice is read in this family; without it nothing in the slice is usable.
  const addressType = readEnum(own(m.obj, 'addressType'), ADDRESS_TYPES, 'addressType', p);
  if (addressType === undefined) return { ok: false, problems: p.list };

  const ports = readPorts(own(m.obj, 'ports'), p);
  // kube-proxy ignores FQDN slices entirely, so their endpoints are not worth validating.
  const endpoints =
    addressType === 'FQDN' ? [] : readEndpoints(own(m.obj, 'endpoints'), addressType === 'IPv4' ? 4 : 6, p);
  return { ok: true, value: { metadata: m.read.meta, addressType, endpoints, ports }, problems: p.list };
}

function readPorts(raw: unknown, p: Problems): EndpointPort[] {
  const out: EndpointPort[] = [];
  readArray(raw, 'ports', p).forEach((item, i) => {
    const f = `ports[${i}]`;
    if (!isRecord(item)) {
      p.add(f, `must be an object, got ${describe(item)}`);
      return;
    }
    const rawName = own(item, 'name');
    let name = '';
    if (!isUnset(rawName)) {
      if (typeof rawName !== 'string' || (rawName !== '' && !isDNSLabel(rawName))) {
        p.add(`${f}.name`, `must be a DNS label, got ${describe(rawName)}`);
        return;
      }
      name = rawName;
    }
    const rawProto = own(item, 'protocol');
    const protocol = isUnset(rawProto) ? 'TCP' : readEnum(rawProto, PROTOCOLS, `${f}.protocol`, p);
    const rawPort = own(item, 'port');
    if (isUnset(rawPort)) {
      // The API allows it ("all ports", for selector-less Services) but kube-proxy skips such ports.
      p.add(`${f}.port`, 'no port number; ignored as kube-proxy does');
      return;
    }
    const port = readPort(rawPort, `${f}.port`, p);
    if (protocol === undefined || port === undefined) return;
    if (out.some((x) => x.name === name && x.protocol === protocol)) {
      p.add(f, `duplicate port ${describe(name)}/${protocol}; keeping the first`);
      return;
    }
    out.push({ name, protocol, port });
  });
  return out;
}

function readEndpoints(raw: unknown, family: IPFamily, p: Problems): SliceEndpoint[] {
  const out: SliceEndpoint[] = [];
  readArray(raw, 'endpoints', p).forEach((item, i) => {
    const ep = readEndpoint(item, `endpoints[${i}]`, family, p);
    if (ep) out.push(ep);
  });
  return out;
}

function readEndpoint(item: unknown, f: string, family: IPFamily, p: Problems): SliceEndpoint | undefined {
  if (!isRecord(item)) {
    p.add(f, `must be an object, got ${describe(item)}`);
    return undefined;
  }
  const rawAddrs = own(item, 'addresses');
  const addrs = readArray(rawAddrs, `${f}.addresses`, p);
  if (addrs.length === 0) {
    if (isUnset(rawAddrs) || Array.isArray(rawAddrs)) p.add(`${f}.addresses`, 'must list at least one address');
    return undefined;
  }
  // kube-proxy only ever uses addresses[0] (the others are to be treated as fungible), so only it matters.
  const address = readIP(addrs[0], `${f}.addresses[0]`, p, family);
  const conditions = readConditions(own(item, 'conditions'), `${f}.conditions`, p);
  if (address === undefined || conditions === undefined) return undefined;

  const nodeName = readOptionalName(own(item, 'nodeName'), `${f}.nodeName`, p);
  const zone = readOptionalName(own(item, 'zone'), `${f}.zone`, p);
  const hints = readHints(own(item, 'hints'), `${f}.hints`, p);
  return {
    addresses: [address],
    conditions,
    ...(nodeName !== undefined ? { nodeName } : {}),
    ...(zone !== undefined ? { zone } : {}),
    hints,
  };
}

function readConditions(raw: unknown, f: string, p: Problems): SliceEndpoint['conditions'] | undefined {
  if (isUnset(raw)) return { ready: true, serving: true, terminating: false };
  const c = readObject(raw, f, p);
  if (!c) return undefined;
  const get = (k: string): boolean | null | undefined => {
    const v = own(c, k);
    return isUnset(v) ? null : readBool(v, `${f}.${k}`, p);
  };
  const ready = get('ready');
  const serving = get('serving');
  const terminating = get('terminating');
  if (ready === undefined || serving === undefined || terminating === undefined) return undefined;
  // API contract: nil ready means ready; nil serving "should defer to the ready condition";
  // nil terminating means not terminating. (kube-proxy itself reads nil serving as true; the two
  // only differ for a slice that sets terminating but not serving, which the controller never writes.)
  const r = ready ?? true;
  return { ready: r, serving: serving ?? r, terminating: terminating ?? false };
}

/** A bad nodeName/zone only loses locality/topology information, so only that field is dropped. */
function readOptionalName(raw: unknown, f: string, p: Problems): string | undefined {
  if (isUnset(raw)) return undefined;
  if (typeof raw === 'string' && raw.length > 0 && raw.length <= 253) return raw;
  p.add(f, `must be a non-empty string, got ${describe(raw)}; ignored`);
  return undefined;
}

function readHints(raw: unknown, f: string, p: Problems): EndpointHints {
  const h = readObject(raw, f, p);
  if (!h) return { forZones: [], forNodes: [] };
  return { forZones: readHintList(h, 'forZones', f, p), forNodes: readHintList(h, 'forNodes', f, p) };
}

function readHintList(h: Json, key: string, f: string, p: Problems): { readonly name: string }[] {
  const out: { name: string }[] = [];
  readArray(own(h, key), `${f}.${key}`, p).forEach((item, i) => {
    const name = isRecord(item) ? own(item, 'name') : undefined;
    if (typeof name !== 'string' || name.length === 0) {
      // Dropping a hint can only make topology fall back to "all endpoints", never strand traffic.
      p.add(`${f}.${key}[${i}]`, `must be {name: string}, got ${describe(isRecord(item) ? name : item)}; ignored`);
      return;
    }
    if (!out.some((x) => x.name === name)) out.push({ name });
  });
  return out;
}
