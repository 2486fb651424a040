// Problems found while reading untrusted API objects, plus the small typed readers every validator
// uses. Readers never throw: a bad value yields undefined and one Problem naming the field.

import { parseCIDR, parseIP, type IPFamily } from './ip.js';

export interface Problem {
  /** Kind and identity, e.g. "Service default/web". */
  readonly object: string;
  /** JSON path inside the object, e.g. "spec.ports[1].port"; "<root>" for the object itself. */
  readonly field: string;
  readonly message: string;
}

export type ParseResult<T> =
  | { readonly ok: true; readonly value: T; readonly problems: readonly Problem[] }
  | { readonly ok: false; readonly problems: readonly Problem[] };

export const ROOT_FIELD = '<root>';

export type Json = Readonly<Record<string, unknown>>;

export function isRecord(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Own property only, so "constructor", "__proto__" and friends never leak in from prototypes. */
export function own(obj: Json, key: string): unknown {
  return Object.prototype.hasOwnProperty.call(obj, key) ? obj[key] : undefined;
}

/** Short, safe rendering of a bad value for a message (never throws, bounded length). */
export function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  switch (typeof v) {
    case 'string':
      return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
    case 'number':
    case 'boolean':
      return String(v);
    case 'bigint':
      return `${v}n`;
    case 'object':
      return Array.isArray(v) ? 'an array' : 'an object';
    default:
      return `a ${typeof v}`;
  }
}

/** Collects problems for one object. */
export class Problems {
  readonly list: Problem[] = [];
  constructor(public object: string) {}
  add(field: string, message: string): void {
    this.list.push({ object: this.object, field, message });
  }
}

/** Absent and null mean "not set" for optional API fields (the API server omits empty values). */
export function isUnset(v: unknown): boolean {
  return v === undefined || v === null;
}

export function readString(v: unknown, field: string, p: Problems): string | undefined {
  if (typeof v === 'string') return v;
  p.add(field, `must be a string, got ${describe(v)}`);
  return undefined;
}

export function readBool(v: unknown, field: string, p: Problems): boolean | undefined {
  if (typeof v === 'boolean') return v;
  p.add(field, `must be a boolean, got ${describe(v)}`);
  return undefined;
}

export function readInt(v: unknown, min: number, max: number, field: string, p: Problems): number | undefined {
  if (typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max) return v;
  p.add(field, `must be an integer ${min}-${max}, got ${describe(v)}`);
  return undefined;
}

export function readPort(v: unknown, field: string, p: Problems): number | undefined {
  return readInt(v, 1, 65535, field, p);
}

const NOTHING: readonly unknown[] = Object.freeze([]);

/** Unset → []; anything but an array → one problem and []. */
export function readArray(v: unknown, field: string, p: Problems): readonly unknown[] {
  if (Array.isArray(v)) return v;
  if (isUnset(v)) return NOTHING;
  p.add(field, `must be a list, got ${describe(v)}`);
  return NOTHING;
}

/** Unset → undefined silently; a non-object → one problem and undefined. */
export function readObject(v: unknown, field: string, p: Problems): Json | undefined {
  if (isUnset(v)) return undefined;
  if (isRecord(v)) return v;
  p.add(field, `must be an object, got ${describe(v)}`);
  return undefined;
}

export function readEnum<T extends string>(
  v: unknown,
  allowed: readonly T[],
  field: string,
  p: Problems,
): T | undefined {
  if (typeof v === 'string' && (allowed as readonly string[]).includes(v)) return v as T;
  p.add(field, `must be one of ${allowed.join('|')}, got ${describe(v)}`);
  return undefined;
}

/** Canonical IP text, optionally of one family. */
export function readIP(v: unknown, field: string, p: Problems, family?: IPFamily): string | undefined {
  if (typeof v !== 'string') {
    p.add(field, `must be an IP address, got ${describe(v)}`);
    return undefined;
  }
  const r = parseIP(v);
  if (!r.ok) {
    p.add(field, `must be an IP address, got ${describe(v)}: ${r.reason}`);
    return undefined;
  }
  if (family !== undefined && r.ip.family !== family) {
    p.add(field, `must be an IPv${family} address, got ${describe(v)}`);
    return undefined;
  }
  return r.ip.text;
}

/** Canonical CIDR text; surrounding whitespace is trimmed (kube-proxy does, the API once allowed it). */
export function readCIDR(v: unknown, field: string, p: Problems): string | undefined {
  if (typeof v !== 'string') {
    p.add(field, `must be a CIDR, got ${describe(v)}`);
    return undefined;
  }
  const r = parseCIDR(v.trim());
  if (!r.ok) {
    p.add(field, `must be a CIDR, got ${describe(v)}: ${r.reason}`);
    return undefined;
  }
  return r.cidr.text;
}

const LABEL_KEY_MAX = 317; // 253-char prefix + '/' + 63-char name
const LABEL_VALUE_MAX = 63;

/** Labels keep every well-formed string pair; others are dropped one by one. */
export function readLabels(v: unknown, field: string, p: Problems): Readonly<Record<string, string>> {
  if (isUnset(v)) return {};
  if (!isRecord(v)) {
    p.add(field, `must be a map of strings, got ${describe(v)}`);
    return {};
  }
  const out: Record<string, string> = {};
  for (const k of Object.keys(v)) {
    const val = own(v, k);
    if (typeof val !== 'string' || k.length === 0 || k.length > LABEL_KEY_MAX || val.length > LABEL_VALUE_MAX) {
      p.add(`${field}[${JSON.stringify(k.slice(0, 40))}]`, `must be a label (string key and value ≤63 chars), got ${describe(val)}`);
      continue;
    }
    // Assigning "__proto__" would change the prototype instead of adding a label.
    if (k === '__proto__') Object.defineProperty(out, k, { value: val, enumerable: true, writable: true, configurable: true });
    else out[k] = val;
  }
  return out;
}

/** Lower-case DNS subdomain; covers Service, namespace, EndpointSlice and Node names. */
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
/** DNS label; Service and EndpointSlice port names. */
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
/** IANA service name: what a named targetPort must be (≤15 chars, at least one letter, no "--"). */
const IANA_SVC_NAME = /^[a-z0-9]([-a-z0-9]{0,13}[a-z0-9])?$/;

export function isDNSSubdomain(s: string): boolean {
  return DNS_SUBDOMAIN.test(s);
}

export function isDNSLabel(s: string): boolean {
  return DNS_LABEL.test(s);
}

export function isIANASvcName(s: string): boolean {
  return IANA_SVC_NAME.test(s) && /[a-z]/.test(s) && !s.includes('--');
}

/** Runs a parser and turns any unexpected exception (hostile getters, proxies) into a Problem. */
export function guarded<T>(kind: string, parse: () => ParseResult<T>): ParseResult<T> {
  try {
    return parse();
  } catch (e) {
    let msg = 'unknown error';
    try {
      msg = e instanceof Error ? String(e.message) : describe(e);
    } catch {
      // a throwing message getter: keep the generic text
    }
    return { ok: false, problems: [{ object: `${kind} ?`, field: ROOT_FIELD, message: `unreadable object: ${msg}` }] };
  }
}

export interface MetaRead {
  readonly meta: { readonly name: string; readonly namespace: string; readonly labels: Readonly<Record<string, string>> };
  readonly problems: Problems;
}

/**
 * Reads metadata and fixes the object's display name for every later Problem. Without a usable
 * name (or namespace) the object as a whole cannot be keyed, so that is fatal.
 */
export function readMetadata(
  kind: string,
  obj: unknown,
  namespaced: boolean,
): { readonly ok: true; readonly read: MetaRead; readonly obj: Json } | { readonly ok: false; readonly problems: readonly Problem[] } {
  const p = new Problems(`${kind} ?`);
  if (!isRecord(obj)) {
    p.add(ROOT_FIELD, `must be an object, got ${describe(obj)}`);
    return { ok: false, problems: p.list };
  }
  const md = own(obj, 'metadata');
  if (!isRecord(md)) {
    p.add('metadata', `must be an object, got ${describe(md)}`);
    return { ok: false, problems: p.list };
  }
  let namespace = '';
  if (namespaced) {
    const ns = own(md, 'namespace');
    if (isUnset(ns) || ns === '') {
      namespace = 'default'; // what the API server fills in for a namespaced object sent without one
    } else if (typeof ns === 'string' && isDNSSubdomain(ns)) {
      namespace = ns;
    } else {
      p.add('metadata.namespace', `must be a DNS label, got ${describe(ns)}`);
      return { ok: false, problems: p.list };
    }
  }
  const name = own(md, 'name');
  if (typeof name !== 'string' || !isDNSSubdomain(name)) {
    p.object = namespaced ? `${kind} ${namespace}/?` : `${kind} ?`;
    p.add('metadata.name', `must be a DNS name, got ${describe(name)}`);
    return { ok: false, problems: p.list };
  }
  p.object = namespaced ? `${kind} ${namespace}/${name}` : `${kind} ${name}`;
  const labels = readLabels(own(md, 'labels'), 'metadata.labels', p);
  return { ok: true, obj, read: { meta: { name, namespace, labels }, problems: p } };
}
