import type { ObjectChange } from '../sources/types.js';

const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

/** metadata fields that change without the object meaning anything new. */
const VOLATILE_METADATA = ['resourceVersion', 'managedFields', 'generation'];

function record(v: unknown): Record<string, unknown> | null {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
}

/** namespace/name of the Service an EndpointSlice belongs to, if it says. */
export function serviceOfSlice(slice: unknown): string | null {
  const meta = record(record(slice)?.metadata);
  const labels = record(meta?.labels);
  const ns = meta?.namespace;
  const name = labels?.[SERVICE_NAME_LABEL];
  return typeof ns === 'string' && typeof name === 'string' && name !== '' ? `${ns}/${name}` : null;
}

export function serviceKeyOf(svc: unknown): string | null {
  const meta = record(record(svc)?.metadata);
  return typeof meta?.namespace === 'string' && typeof meta.name === 'string' ? `${meta.namespace}/${meta.name}` : null;
}

/** The object without metadata that changes on every write, for no-op detection. */
function meaningful(obj: unknown): string {
  const r = record(obj);
  if (!r) return JSON.stringify(obj);
  const meta = record(r.metadata);
  if (!meta) return JSON.stringify(r);
  const m = { ...meta };
  for (const f of VOLATILE_METADATA) delete m[f];
  return JSON.stringify({ ...r, metadata: m });
}

export function isNoOpChange(c: ObjectChange): boolean {
  return c.previous !== null && c.current !== null && meaningful(c.previous) === meaningful(c.current);
}

/**
 * The current raw objects, indexed the way a sync needs them: Services by
 * namespace/name and EndpointSlices by the Service they belong to.
 */
export class ObjectStore {
  private services = new Map<string, unknown>();
  private slices = new Map<string, unknown>();
  private slicesByService = new Map<string, Set<string>>();
  private serviceCIDRObjects = new Map<string, unknown>();
  node: unknown | null = null;

  /** nodeName: the Node object this proxy runs on; others are ignored (a manifest directory may hold several). */
  constructor(private readonly nodeName?: string) {}

  /** Applies a change; returns the Service keys it touches (before and after). */
  apply(c: ObjectChange): string[] {
    switch (c.kind) {
      case 'Service': {
        if (c.current === null) this.services.delete(c.key);
        else this.services.set(c.key, c.current);
        return [c.key];
      }
      case 'EndpointSlice': {
        const before = c.previous !== null ? serviceOfSlice(c.previous) : serviceOfSlice(this.slices.get(c.key));
        const after = c.current !== null ? serviceOfSlice(c.current) : null;
        if (before) this.slicesByService.get(before)?.delete(c.key);
        if (c.current === null) this.slices.delete(c.key);
        else {
          this.slices.set(c.key, c.current);
          if (after) {
            let set = this.slicesByService.get(after);
            if (!set) this.slicesByService.set(after, (set = new Set()));
            set.add(c.key);
          }
        }
        return [...new Set([before, after].filter((k): k is string => k !== null))];
      }
      case 'Node':
        if (this.nodeName === undefined || c.key === this.nodeName) this.node = c.current;
        return [];
      case 'ServiceCIDR':
        if (c.current === null) this.serviceCIDRObjects.delete(c.key);
        else this.serviceCIDRObjects.set(c.key, c.current);
        return [];
    }
  }

  serviceCIDRs(): Iterable<unknown> {
    return this.serviceCIDRObjects.values();
  }

  service(key: string): unknown | undefined {
    return this.services.get(key);
  }

  slicesOf(serviceKey: string): unknown[] {
    return [...(this.slicesByService.get(serviceKey) ?? [])].map((k) => this.slices.get(k));
  }

  serviceKeys(): string[] {
    return [...new Set([...this.services.keys(), ...this.slicesByService.keys()])];
  }
}
