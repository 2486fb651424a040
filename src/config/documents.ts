// The documents of a YAML or JSON file (a KubeProxyConfiguration, a directory of manifests).
// The YAML parser is loaded on first use: importing it costs ~55 ms here, a third of the CLI's
// start, and over a second under the ipvs VM's emulation, while JSON documents (`kubectl get -o
// json`, the lab's manifests) need none of it: JSON.parse reads them ~50 times faster. One
// difference: a key given twice in a JSON document takes its last value, as the API server takes
// it by default (a warning, not an error), where the YAML parser refuses the document.
import { createRequire } from 'node:module';

type Yaml = typeof import('yaml');
let yaml: Yaml | null = null;

export interface Document {
  /** null for an empty document, or one with errors. */
  value: unknown;
  /** The parser's messages; empty when the document parsed. */
  errors: string[];
}

/** A document separator line, as YAML reads one (`---`, trailing blanks allowed). */
const SEPARATOR = /^---[ \t]*\r?$/m;

/**
 * The documents when every one is JSON, numbered as the YAML parser numbers them; null when
 * any is not (a comment, a directive, a YAML block), for the YAML parser to read.
 */
function jsonDocuments(text: string): unknown[] | null {
  const chunks = text.split(SEPARATOR);
  // Before the first separator: a document only if something is there.
  if (chunks[0]!.trim() === '') chunks.shift();
  const out: unknown[] = [];
  for (const c of chunks) {
    if (c.trim() === '') {
      out.push(null);
      continue;
    }
    const first = c.trimStart()[0];
    if (first !== '{' && first !== '[') return null;
    try {
      out.push(JSON.parse(c));
    } catch {
      return null;
    }
  }
  return out;
}

/** Every document of `text`, YAML (multi-document) or JSON. */
export function parseDocuments(text: string): Document[] {
  const json = jsonDocuments(text);
  if (json) return json.map((value) => ({ value, errors: [] }));
  yaml ??= createRequire(import.meta.url)('yaml') as Yaml;
  return Array.from(yaml.parseAllDocuments(text), (d) =>
    d.errors.length ? { value: null, errors: d.errors.map((e) => e.message) } : { value: d.toJS() as unknown, errors: [] });
}
