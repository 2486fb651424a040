import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { parseDocuments } from '../../../src/config/documents.js';
import { packageRoot } from '../../../src/native/index.js';

/** What the YAML parser alone makes of `text`, in parseDocuments' shape. */
function viaYaml(text: string) {
  return Array.from(parseAllDocuments(text), (d) => (d.errors.length ? { value: null, errors: d.errors.map((e) => e.message) } : { value: d.toJS() as unknown, errors: [] }));
}

describe('parseDocuments', () => {
  // JSON documents take JSON.parse; the result, and the numbering of documents that problems
  // name, must be what the YAML parser gives.
  const JSON_TEXTS: [string, string][] = [
    ['one document', '{"kind": "Service", "metadata": {"name": "a"}}\n'],
    ['two, as the lab writes them', '{\n  "a": 1\n}\n---\n{\n  "b": [1, 2]\n}\n'],
    ['a leading separator', '---\n{"a": 1}\n'],
    ['a trailing separator (an empty last document)', '{"a": 1}\n---\n'],
    ['an empty document between two', '{"a": 1}\n---\n---\n{"b": 2}'],
    ['CRLF line ends, blanks after a separator', '{"a": 1}\r\n---  \r\n{"b": 2}\r\n'],
    ['blank lines before the first separator', '  \n\n---\n{"a": 1}'],
    ['a List', '{"kind": "List", "items": [{"kind": "Service"}]}'],
    ['nothing', ''],
    ['only blank lines', '\n\n'],
    ['a string holding ---', '{"a": "x\\n---\\ny"}'],
  ];
  for (const [what, text] of JSON_TEXTS) {
    it(`JSON, ${what}: as the YAML parser reads it`, () => {
      expect(parseDocuments(text)).toEqual(viaYaml(text));
    });
  }

  // Anything else goes to the YAML parser whole.
  const YAML_TEXTS: [string, string][] = [
    ['block YAML', 'kind: Service\nmetadata:\n  name: a\n'],
    ['a flow mapping that is not JSON', '{kind: Service}\n'],
    ['JSON with a comment', '# generated\n{"a": 1}\n'],
    ['JSON, then a YAML document', '{"a": 1}\n---\nb: 2\n'],
    ['a separator with a document on its line', '--- {"a": 1}\n'],
    ['broken', 'a: [1, 2\n'],
  ];
  for (const [what, text] of YAML_TEXTS) {
    it(`${what}: as the YAML parser reads it`, () => {
      expect(parseDocuments(text)).toEqual(viaYaml(text));
    });
  }

  it('a key given twice in JSON takes its last value, as the API server does by default (YAML refuses it)', () => {
    const text = '{"kind": "Service", "metadata": {"name": "a", "name": "b"}}';
    expect(parseDocuments(text)).toEqual([{ value: { kind: 'Service', metadata: { name: 'b' } }, errors: [] }]);
    expect(viaYaml(text)[0]!.errors[0]).toMatch(/unique/);
  });

  it('a broken document carries the parser\'s message', () => {
    const [d] = parseDocuments('a: [1, 2\n');
    expect(d!.value).toBeNull();
    expect(d!.errors[0]).toMatch(/flow sequence|Expected/i);
  });

  it('loads the YAML parser only for YAML: JSON manifests and a start without --config never import it', () => {
    const mod = join(packageRoot(), 'dist', 'config', 'documents.js');
    const script = `
      import { createRequire } from 'node:module';
      const { parseDocuments } = await import(${JSON.stringify(mod)});
      const loaded = () => Object.keys(createRequire(import.meta.url).cache).some((k) => k.includes('/node_modules/yaml/'));
      parseDocuments('{"a": 1}\\n---\\n{"b": 2}\\n');
      const afterJson = loaded();
      parseDocuments('a: 1\\n');
      console.log(JSON.stringify([afterJson, loaded()]));`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual([false, true]);
  });
});
