import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ManifestSource, parseManifest } from '../../../../src/sources/manifests/index.js';
import type { ObjectChange, SourceSink } from '../../../../src/sources/types.js';

// Counts the source's reads (it imports readFileSync from node:fs).
vi.mock('node:fs', async (load) => {
  const fs = await load<typeof import('node:fs')>();
  return { ...fs, readFileSync: vi.fn(fs.readFileSync) };
});
const readsOf = (path: string) => vi.mocked(readFileSync).mock.calls.filter(([p]) => p === path).length;

const SVC = `apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: shop
spec:
  clusterIP: 10.96.0.10
  ports:
  - port: 80
    targetPort: 8080
`;

const SLICE = (ip: string) => `apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-1
  namespace: shop
  labels: {kubernetes.io/service-name: web}
addressType: IPv4
ports: [{port: 8080}]
endpoints: [{addresses: ["${ip}"]}]
`;

describe('parseManifest', () => {
  it('multi-document YAML, kind: List, JSON, and other kinds ignored', () => {
    const text = `${SVC}---\n${SLICE('10.244.0.5')}---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n---\n`;
    expect(parseManifest(text, 'a.yaml').objects.map((o) => `${o.kind} ${o.key}`)).toEqual(['Service shop/web', 'EndpointSlice shop/web-1']);
    const list = JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [{ kind: 'Node', metadata: { name: 'n1' } }, { kind: 'Service', metadata: { name: 's' } }] });
    expect(parseManifest(list, 'b.json').objects.map((o) => `${o.kind} ${o.key}`)).toEqual(['Node n1', 'Service default/s']);
  });

  it('reports unusable documents by file and document, keeping the good ones', () => {
    const r = parseManifest(`kind: Service\nmetadata: {}\n---\n- just a list\n---\n${SVC}---\nkey: [unclosed\n`, 'c.yaml');
    expect(r.objects.map((o) => o.key)).toEqual(['shop/web']);
    expect(r.problems).toEqual([
      'c.yaml document 1: Service without metadata.name',
      'c.yaml document 2: not an object',
      expect.stringMatching(/^c\.yaml document 4: /),
    ]);
  });
});

describe('ManifestSource', () => {
  let dir: string;
  let source: ManifestSource;
  let changes: ObjectChange[];
  let problems: string[];
  let synced: string[];
  const sink: SourceSink = {
    changed: (c) => changes.push(c),
    synced: (k) => synced.push(k),
    problem: (_k, m) => problems.push(m),
  };
  const until = async (cond: () => boolean, ms = 2000) => {
    const end = Date.now() + ms;
    while (!cond()) {
      if (Date.now() > end) throw new Error('timed out waiting');
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  const summary = () => changes.map((c) => `${c.current ? (c.previous ? 'update' : 'add') : 'delete'} ${c.kind} ${c.key}`);

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ekpt-manifests-'));
    changes = [];
    problems = [];
    synced = [];
    source = new ManifestSource({ dir, pollIntervalMs: 5000, debounceMs: 20 });
  });
  afterEach(async () => {
    await source.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('lists the directory, then says every kind is synced', async () => {
    writeFileSync(join(dir, 'svc.yaml'), SVC);
    writeFileSync(join(dir, 'slice.yml'), SLICE('10.244.0.5'));
    writeFileSync(join(dir, 'notes.txt'), 'not a manifest');
    await source.start(sink);
    expect(summary()).toEqual(['add EndpointSlice shop/web-1', 'add Service shop/web']);
    expect(synced).toEqual(['Service', 'EndpointSlice', 'Node', 'ServiceCIDR']);
  });

  it('an edit reaches the sink well within a second, as one update with previous and current', async () => {
    writeFileSync(join(dir, 'slice.yaml'), SLICE('10.244.0.5'));
    await source.start(sink);
    changes = [];
    const t0 = Date.now();
    writeFileSync(join(dir, 'slice.yaml'), SLICE('10.244.0.6'));
    await until(() => changes.length > 0);
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(summary()).toEqual(['update EndpointSlice shop/web-1']);
    expect(JSON.stringify(changes[0]!.previous)).toMatch(/10\.244\.0\.5/);
    expect(JSON.stringify(changes[0]!.current)).toMatch(/10\.244\.0\.6/);
  });

  it('deleting a file deletes its objects; rewriting a file unchanged reports nothing', async () => {
    writeFileSync(join(dir, 'svc.yaml'), SVC);
    writeFileSync(join(dir, 'slice.yaml'), SLICE('10.244.0.5'));
    await source.start(sink);
    changes = [];
    writeFileSync(join(dir, 'svc.yaml'), SVC);
    unlinkSync(join(dir, 'slice.yaml'));
    await until(() => changes.length > 0);
    await new Promise((r) => setTimeout(r, 100));
    expect(summary()).toEqual(['delete EndpointSlice shop/web-1']);
  });

  it('a broken save keeps the last good objects, and is reported once', async () => {
    writeFileSync(join(dir, 'svc.yaml'), SVC);
    await source.start(sink);
    changes = [];
    writeFileSync(join(dir, 'svc.yaml'), 'kind: Service\nmetadata: {name: web, namespace: shop\n');
    await until(() => problems.length > 0);
    source.rescan();
    expect(changes).toEqual([]);
    expect(problems).toHaveLength(1);
    writeFileSync(join(dir, 'svc.yaml'), SVC.replace('10.96.0.10', '10.96.0.11'));
    await until(() => changes.length > 0);
    expect(summary()).toEqual(['update Service shop/web']);
  });

  it('a YAML error in one document of a file keeps the whole file\'s last good objects, not just the broken document\'s', async () => {
    writeFileSync(join(dir, 'web.yaml'), `${SVC}---\n${SLICE('10.244.0.5')}`);
    await source.start(sink);
    changes = [];
    // An indentation slip in the slice's document: its objects are not gone, the file is mid-edit.
    writeFileSync(join(dir, 'web.yaml'), `${SVC.replace('10.96.0.10', '10.96.0.11')}---\nkind: EndpointSlice\n metadata: {name: web-1\n`);
    await until(() => problems.length > 0);
    source.rescan();
    expect(changes).toEqual([]);
    writeFileSync(join(dir, 'web.yaml'), `${SVC.replace('10.96.0.10', '10.96.0.11')}---\n${SLICE('10.244.0.6')}`);
    await until(() => changes.length > 1);
    expect(summary()).toEqual(['update Service shop/web', 'update EndpointSlice shop/web-1']);
  });

  it('an editor\'s write-then-rename is seen', async () => {
    await source.start(sink);
    writeFileSync(join(dir, '.svc.yaml.tmp'), SVC);
    renameSync(join(dir, '.svc.yaml.tmp'), join(dir, 'svc.yaml'));
    await until(() => changes.length > 0);
    expect(summary()).toEqual(['add Service shop/web']);
  });

  it('the poll does not read a settled, unchanged file again, and still sees its next edit', async () => {
    const file = join(dir, 'slice.yaml');
    writeFileSync(file, SLICE('10.244.0.5'));
    // Settled: its change time (which nothing can set back) is ten seconds before the clock.
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      vi.setSystemTime(Date.now() + 10_000);
      await source.start(sink);
      changes = [];
      const reads = readsOf(file);
      for (let i = 0; i < 3; i++) source.rescan();
      expect(readsOf(file)).toBe(reads);
      expect(changes).toEqual([]);
      // Another size: the fake clock called a file settled that changed a moment ago, which
      // the real guard never does, so a same-size rewrite in the same tick could pass unseen.
      writeFileSync(file, SLICE('10.244.0.16'));
      source.rescan();
      expect(summary()).toEqual(['update EndpointSlice shop/web-1']);
      // Even an unchanged stat does not keep a file from being read for longer than 30 s (NFS
      // answers stat from its attribute cache); an unchanged text reports nothing.
      vi.setSystemTime(Date.now() + 10_000);
      source.rescan();
      const settled = readsOf(file);
      source.rescan();
      expect(readsOf(file)).toBe(settled);
      vi.setSystemTime(Date.now() + 31_000);
      source.rescan();
      expect(readsOf(file)).toBe(settled + 1);
      expect(changes).toHaveLength(1);
    } finally {
      vi.useRealTimers();
    }
  });

  it('a file that cannot be read (not one that is gone) keeps its objects, and says so once', async () => {
    const file = join(dir, 'svc.yaml');
    writeFileSync(file, SVC);
    await source.start(sink);
    changes = [];
    unlinkSync(file);
    mkdirSync(file); // readdir still lists it; reading it fails with EISDIR
    source.rescan();
    source.rescan();
    expect(changes).toEqual([]);
    expect(problems).toEqual([expect.stringMatching(/^cannot read svc\.yaml: .*EISDIR.*; keeping its last good objects$/)]);
    rmSync(file, { recursive: true });
    source.rescan();
    expect(summary()).toEqual(['delete Service shop/web']);
  });

  it('a file changed within two seconds is read on every scan, so a same-size rewrite right after a read is seen', async () => {
    const file = join(dir, 'slice.yaml');
    writeFileSync(file, SLICE('10.244.0.5'));
    await source.start(sink);
    changes = [];
    source.rescan();
    writeFileSync(file, SLICE('10.244.0.6'));
    source.rescan();
    expect(summary()).toEqual(['update EndpointSlice shop/web-1']);
    const reads = readsOf(file);
    source.rescan();
    expect(readsOf(file)).toBe(reads + 1);
    expect(changes).toHaveLength(1);
  });
});
