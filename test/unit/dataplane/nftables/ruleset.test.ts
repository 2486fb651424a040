// Golden files: the generated ruleset for representative desired states, and partial-sync
// transactions. Regenerate with UPDATE_GOLDEN=1 (and read the diff before committing it).
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { contribution, parseListing, renderFull, RulesetState, type KernelTable } from '../../../../src/dataplane/nftables/ruleset.js';
import type { DesiredState } from '../../../../src/model/index.js';
import { ep, slice, svc } from '../../model/fixtures.js';
import { build, podInterfaceState, STATES, twoEps } from './states.js';

const GOLDEN = join(import.meta.dirname, 'golden');
const OPTS = { masqueradeBit: 14 };
const NONE = { 4: null, 6: null } as Record<4 | 6, KernelTable | null>;

function golden(name: string, text: string): void {
  const file = join(GOLDEN, `${name}.nft`);
  // A missing file is written locally (a new state), never in CI, where it must already be committed.
  if (process.env.UPDATE_GOLDEN || (!existsSync(file) && !process.env.CI)) {
    writeFileSync(file, text);
    return;
  }
  expect(text).toBe(readFileSync(file, 'utf8'));
}

describe('nftables ruleset golden files', () => {
  for (const [name, make] of Object.entries(STATES)) {
    it(name, () => golden(name, renderFull(make(), OPTS)));
  }

  it('BridgeInterface: the bridge by its exact name (pod-interface has the prefix form)', () => {
    const text = renderFull(STATES['pod-interface']!(), OPTS);
    const bridge = text.replaceAll('"cali*"', '"cbr0"');
    expect(renderFull(podInterfaceState({ name: 'cbr0', prefix: false }), OPTS)).toBe(bridge);
    expect(bridge).toContain('iifname != "cbr0" jump mark-for-masquerade');
    expect(bridge).toContain('iifname "cbr0" goto');
  });

  it('no endpoints: reject-chain is one plain reject, ICMP port unreachable for every protocol, as kube-proxy\'s (a SYN so refused is ECONNREFUSED all the same)', () => {
    const rules = renderFull(STATES['no-endpoints']!(), OPTS).split('\n').filter((l) => / reject-chain ./.test(l) && l.startsWith('add rule'));
    expect(rules).toEqual(['add rule ip ekp-proxy reject-chain reject', 'add rule ip6 ekp-proxy reject-chain reject']);
  });
});

function synced(state: DesiredState): RulesetState {
  const r = new RulesetState(OPTS);
  r.full(state, NONE).commit();
  return r;
}

describe('partial syncs', () => {
  it('an endpoint added to one service touches only its elements', () => {
    const before = STATES['multi-service']!();
    const r = synced(before);
    const after = build(
      [svc(), svc({ name: 'api', spec: { clusterIP: '10.96.0.20', clusterIPs: ['10.96.0.20'], ports: [{ name: 'http', port: 80, targetPort: 8080 }] } })],
      [slice({ endpoints: [ep('10.244.1.1', { node: 'node-a' }), ep('10.244.2.1', { node: 'node-b' }), ep('10.244.2.9', { node: 'node-b' })] }),
        slice({ service: 'api', endpoints: [ep('10.244.1.1', { node: 'node-a' }), ep('10.244.1.2', { node: 'node-a' }), ep('10.244.2.2', { node: 'node-b' })] })],
    );
    const tx = r.partial(after, ['default/web:http']);
    expect(tx.text).not.toContain('10.96.0.20');
    golden('partial-endpoint-added', tx.text);
    tx.commit();
    // Nothing changed: nothing to do.
    expect(r.partial(after, ['default/web:http', 'default/api:http']).text).toBe('');
  });

  it('a service removed and one added', () => {
    const r = synced(STATES['multi-service']!());
    const after = build([svc(), svc({ name: 'db', spec: { clusterIP: '10.96.0.30', clusterIPs: ['10.96.0.30'], ports: [{ name: 'pg', port: 5432, targetPort: 5432 }] } })],
      [twoEps(), slice({ service: 'db', ports: [{ name: 'pg', port: 5432, protocol: 'TCP' }], endpoints: [ep('10.244.1.7', { node: 'node-a' })] })]);
    const tx = r.partial(after, ['default/api:http', 'default/db:pg']);
    golden('partial-service-swap', tx.text);
    // The hairpin element of 10.244.1.1 is still wanted by web: not deleted.
    expect(tx.text).not.toMatch(/delete element ip ekp-proxy hairpin \{[^}]*10\.244\.1\.1 \. 10\.244\.1\.1/);
    tx.commit();
    // A full sync of the same state afterwards yields the same elements.
    const again = new RulesetState(OPTS);
    const a = again.full(after, NONE).text;
    expect(r.full(after, NONE).text).toBe(a);
  });

  it('affinity: endpoint change rewrites the service chains, keeps the surviving endpoint sets', () => {
    const aff = { sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 600 } } };
    const r = synced(build([svc({ spec: aff })], [twoEps()]));
    const after = build([svc({ spec: aff })], [slice({ endpoints: [ep('10.244.1.1', { node: 'node-a' })] })]);
    const tx = r.partial(after, ['default/web:http']);
    golden('partial-affinity', tx.text);
    expect(tx.text.match(/delete set/g)?.length).toBe(1);
    expect(tx.text).not.toMatch(/add set/);
  });

  it('full sync against a listed table flushes what stays, deletes what went, keeps affinity sets', () => {
    const state = STATES['clusterip-basic']!();
    const kernel = parseListing('table ip ekp-proxy {\n\tset aff-0123 {\n\t}\n\tmap pick-tcp-7 {\n\t}\n\tmap pick-tcp-2 {\n\t}\n\tchain pick-tcp-7 {\n\t}\n\tchain services {\n\t}\n}\n');
    const tx = new RulesetState(OPTS).full(state, { 4: kernel, 6: null });
    expect(tx.text).toContain('flush map ip ekp-proxy pick-tcp-2');
    expect(tx.text).toContain('delete chain ip ekp-proxy pick-tcp-7');
    expect(tx.text).toContain('delete map ip ekp-proxy pick-tcp-7');
    expect(tx.text).toContain('delete set ip ekp-proxy aff-0123');
    expect(tx.text).not.toContain('flush set ip ekp-proxy aff-');
    expect(tx.text.indexOf('flush chain ip ekp-proxy pick-tcp-7')).toBeLessThan(tx.text.indexOf('delete chain ip ekp-proxy pick-tcp-7'));
  });

  it('two services claiming one external IP: the first keeps it', () => {
    const a = svc({ name: 'a', spec: { clusterIP: '10.96.0.1', clusterIPs: ['10.96.0.1'], externalIPs: ['203.0.113.10'] } });
    const b = svc({ name: 'b', spec: { clusterIP: '10.96.0.2', clusterIPs: ['10.96.0.2'], externalIPs: ['203.0.113.10'] } });
    const state = build([a, b], [twoEps('a'), twoEps('b')]);
    const tx = new RulesetState(OPTS).full(state, NONE);
    expect(tx.problems.join()).toMatch(/default\/b:http: 203\.0\.113\.10 \. tcp \. 80 already belongs/);
    expect(tx.text.match(/203\.0\.113\.10 \. tcp \. 80 : goto/g)?.length).toBe(1);
  });

  it('a partial sync over every key skips services handed the same object, except one that lost a conflict', () => {
    const a = svc({ name: 'a', spec: { clusterIP: '10.96.0.1', clusterIPs: ['10.96.0.1'], externalIPs: ['203.0.113.10'] } });
    const b = svc({ name: 'b', spec: { clusterIP: '10.96.0.2', clusterIPs: ['10.96.0.2'], externalIPs: ['203.0.113.10'] } });
    // b's one endpoint: its own pick chain, so its external element differs from a's.
    const state = build([a, b], [twoEps('a'), slice({ service: 'b', endpoints: [ep('10.244.3.3', { node: 'node-b' })] })]);
    const rs = new RulesetState(OPTS);
    rs.full(state, NONE).commit();
    const all = new Set(state.services.keys());
    // The same objects: only b, whose external IP a holds, is looked at again (and still loses).
    const again = rs.partial(state, all);
    expect(again.text).toBe('');
    expect(again.problems.join()).toMatch(/default\/b:http: 203\.0\.113\.10 \. tcp \. 80 already belongs/);
    // a gone: b, handed its same object, now gets the address.
    const onlyB = new Map([...state.services].filter(([k]) => k.startsWith('default/b')));
    const tx = rs.partial({ services: onlyB }, all);
    expect(tx.text).toMatch(/add element ip ekp-proxy service-ips \{ 203\.0\.113\.10 \. tcp \. 80 : goto/);
  });
});

describe('what goes into the text is checked', () => {
  it('refuses an address that is not one', () => {
    const d = STATES['clusterip-basic']!().services.get('default/web:http')!;
    const evil = { ...d, frontends: [{ ...d.frontends[0]!, address: '10.96.0.10 } ; flush ruleset ; {' }] };
    expect(() => contribution(evil)).toThrow(/not an IPv4 address/);
    const badPort = { ...d, internalBackends: { ...d.internalBackends, backends: [{ ...d.internalBackends.backends[0]!, port: 70000 }] } };
    expect(() => contribution(badPort)).toThrow(/not a port/);
    expect(() => contribution({ ...d, protocol: 'ICMP' as never })).toThrow(/protocol/);
  });

  it('a bad service is left out with a problem, the others are programmed', () => {
    const s = STATES['multi-service']!();
    const d = s.services.get('default/api:http')!;
    const services = new Map(s.services);
    services.set('default/api:http', { ...d, masquerade: { ...d.masquerade, clusterCIDRs: ['10.0.0.0/8"'] } });
    const tx = new RulesetState(OPTS).full({ services }, NONE);
    expect(tx.problems.join()).toMatch(/default\/api:http: left out/);
    expect(tx.text).toContain('10.96.0.10 . tcp . 80');
    expect(tx.text).not.toContain('10.96.0.20');
  });
});

