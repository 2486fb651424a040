import { parseDocuments } from '../../config/documents.js';
import type { ObjectKind } from '../types.js';

const KINDS: Record<string, ObjectKind> = { Service: 'Service', EndpointSlice: 'EndpointSlice', Node: 'Node', ServiceCIDR: 'ServiceCIDR' };
/** Kinds without a namespace. */
const CLUSTER_SCOPED: ReadonlySet<ObjectKind> = new Set(['Node', 'ServiceCIDR']);

export interface ManifestObject {
  kind: ObjectKind;
  key: string;
  object: Record<string, unknown>;
}

export interface ParsedFile {
  objects: ManifestObject[];
  /** Documents we could not use; the rest of the file still counts. */
  problems: string[];
  /**
   * Some document is not even YAML: the file is being saved or edited, and what it says now is
   * no statement about the objects of its broken documents.
   */
  broken: boolean;
}

function record(v: unknown): Record<string, unknown> | null {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
}

function collect(doc: unknown, where: string, out: ParsedFile): void {
  const obj = record(doc);
  if (!obj) {
    out.problems.push(`${where}: not an object`);
    return;
  }
  if (typeof obj.kind === 'string' && obj.kind.endsWith('List') && Array.isArray(obj.items)) {
    obj.items.forEach((item, i) => collect(item, `${where} items[${i}]`, out));
    return;
  }
  const kind = typeof obj.kind === 'string' ? KINDS[obj.kind] : undefined;
  if (!kind) {
    // Deployments, Pods, … in the same directory are normal: not ours to read.
    if (typeof obj.kind !== 'string') out.problems.push(`${where}: no kind`);
    return;
  }
  const meta = record(obj.metadata);
  const name = meta?.name;
  if (typeof name !== 'string' || name === '') {
    out.problems.push(`${where}: ${kind} without metadata.name`);
    return;
  }
  const namespace = CLUSTER_SCOPED.has(kind) ? undefined : typeof meta?.namespace === 'string' && meta.namespace !== '' ? meta.namespace : 'default';
  // kubectl fills in the namespace on apply; do the same so keys and the model agree.
  const object = namespace === undefined ? obj : { ...obj, metadata: { ...meta, namespace } };
  out.objects.push({ kind, key: namespace === undefined ? name : `${namespace}/${name}`, object });
}

/** Parses one manifest file: YAML (multi-document) or JSON, `kind: List` allowed. */
export function parseManifest(text: string, file: string): ParsedFile {
  const out: ParsedFile = { objects: [], problems: [], broken: false };
  const docs = parseDocuments(text);
  docs.forEach((d, i) => {
    const where = docs.length > 1 ? `${file} document ${i + 1}` : file;
    if (d.errors.length) {
      out.broken = true;
      out.problems.push(`${where}: ${d.errors[0]!.split('\n')[0]}`);
      return;
    }
    if (d.value !== null && d.value !== undefined) collect(d.value, where, out);
  });
  return out;
}
