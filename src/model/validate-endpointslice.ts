// unknown → validated discovery.k8s.io/v1 EndpointSlice. A bad address or condition drops that
// endpoint, a bad port drops that port; only a slice without name or a known addressType fails.

import { canonicalIPv4, type IPFamily } from './ip.js';
import type { AddressType, EndpointConditions, EndpointHints, EndpointPort, EndpointSlice, Protocol, SliceEndpoint } from './k8s.js';
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
  const items = readArray(raw, 'endpoints', p);
  const out: SliceEndpoint[] = [];
  // An index loop and field paths built only for a problem: this runs for every endpoint of every slice.
  for (let i = 0; i < items.length; i++) {
    const ep = readEndpoint(items[i], i, family, p);
    if (ep) out.push(ep);
  }
  return out;
}

function readEndpoint(item: unknown, i: number, family: IPFamily, p: Problems): SliceEndpoint | undefined {
  if (!isRecord(item)) {
    p.add(`endpoints[${i}]`, `must be an object, got ${describe(item)}`);
    return undefined;
  }
  const rawAddrs = own(item, 'addresses');
  const addrs = Array.isArray(rawAddrs) ? rawAddrs : readArray(rawAddrs, `endpoints[${i}].addresses`, p);
  if (addrs.length === 0) {
    if (isUnset(rawAddrs) || Array.isArray(rawAddrs)) p.add(`endpoints[${i}].addresses`, 'must list at least one address');
    return undefined;
  }
  // kube-proxy only ever uses addresses[0] (the others are to be treated as fungible), so only it matters.
  const first: unknown = addrs[0];
  const address = (family === 4 && typeof first === 'string' ? canonicalIPv4(first) : undefined)
    ?? readIP(first, `endpoints[${i}].addresses[0]`, p, family);
  const conditions = readConditions(own(item, 'conditions'), i, p);
  if (address === undefined || conditions === undefined) return undefined;

  const nodeName = readOptionalName(own(item, 'nodeName'), i, 'nodeName', p);
  const zone = readOptionalName(own(item, 'zone'), i, 'zone', p);
  const rawHints = own(item, 'hints');
  const hints = isUnset(rawHints) ? NO_HINTS : readHints(rawHints, `endpoints[${i}].hints`, p);
  const addresses = [address];
  // A literal per combination of the optional fields, so each object is allocated at its final size.
  if (nodeName !== undefined) {
    return zone !== undefined ? { addresses, conditions, nodeName, zone, hints } : { addresses, conditions, nodeName, hints };
  }
  return zone !== undefined ? { addresses, conditions, zone, hints } : { addresses, conditions, hints };
}

/** Every combination of the three conditions, shared: validated objects are never mutated. */
const CONDITIONS: readonly EndpointConditions[] = Array.from({ length: 8 }, (_, k) =>
  Object.freeze({ ready: (k & 4) !== 0, serving: (k & 2) !== 0, terminating: (k & 1) !== 0 }));
const conditionsOf = (ready: boolean, serving: boolean, terminating: boolean): EndpointConditions =>
  CONDITIONS[(ready ? 4 : 0) | (serving ? 2 : 0) | (terminating ? 1 : 0)]!;

const NO_HINTS: EndpointHints = Object.freeze({ forZones: Object.freeze([]), forNodes: Object.freeze([]) });

function readConditions(raw: unknown, i: number, p: Problems): EndpointConditions | undefined {
  if (isUnset(raw)) return conditionsOf(true, true, false);
  const c = isRecord(raw) ? raw : readObject(raw, `endpoints[${i}].conditions`, p);
  if (!c) return undefined;
  const ready = readCondition(c, 'ready', i, p);
  const serving = readCondition(c, 'serving', i, p);
  const terminating = readCondition(c, 'terminating', i, p);
  if (ready === undefined || serving === undefined || terminating === undefined) return undefined;
  // As kube-proxy's EndpointSliceCache reads them, not as the API doc's "nil serving defers to
  // ready": nil ready and nil serving are true, nil terminating is false.
  return conditionsOf(ready ?? true, serving ?? true, terminating ?? false);
}

/** null when unset, undefined (and a problem) when not a boolean. */
function readCondition(c: Json, k: string, i: number, p: Problems): boolean | null | undefined {
  const v = own(c, k);
  if (typeof v === 'boolean') return v;
  return isUnset(v) ? null : readBool(v, `endpoints[${i}].conditions.${k}`, p);
}

/** A bad nodeName/zone only loses locality/topology information, so only that field is dropped. */
function readOptionalName(raw: unknown, i: number, key: string, p: Problems): string | undefined {
  if (isUnset(raw)) return undefined;
  if (typeof raw === 'string' && raw.length > 0 && raw.length <= 253) return raw;
  p.add(`endpoints[${i}].${key}`, `must be a non-empty string, got ${describe(raw)}; ignored`);
  return undefined;
}

function readHints(raw: unknown, f: string, p: Problems): EndpointHints {
  const h = readObject(raw, f, p);
  if (!h) return NO_HINTS;
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
