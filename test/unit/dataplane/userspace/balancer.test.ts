import { describe, expect, it } from 'vitest';
import { Balancer, backendKey } from '../../../../src/dataplane/userspace/balancer.js';
import type { Affinity, Backend } from '../../../../src/model/index.js';

const be = (ip: string, port = 8080): Backend => ({ ip, port, ready: true, serving: true, terminating: false, isLocal: false });
const A = be('10.244.1.5');
const B = be('10.244.2.6');
const C = be('10.244.3.7');
const NONE: Affinity = { type: 'None' };
const sticky = (timeoutSeconds: number): Affinity => ({ type: 'ClientIP', timeoutSeconds });

function clock(start = 1_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => void (t += ms) };
}

describe('Balancer: round-robin per service port and scope', () => {
  it('takes backends in turn, and each scope keeps its own cursor', () => {
    const b = new Balancer();
    const picks = Array.from({ length: 6 }, () => b.pick('svc', 'internal', [A, B, C], '10.244.1.9', NONE)!.ip);
    expect(picks).toEqual([A.ip, B.ip, C.ip, A.ip, B.ip, C.ip]);
    expect(b.pick('svc', 'external', [A, B, C], '1.2.3.4', NONE)!.ip).toBe(A.ip);
    expect(b.pick('other', 'internal', [A, B], '1.2.3.4', NONE)!.ip).toBe(A.ip);
  });

  it('null without a usable backend (none, or every one excluded)', () => {
    const b = new Balancer();
    expect(b.pick('svc', 'internal', [], '1.2.3.4', NONE)).toBeNull();
    expect(b.pick('svc', 'internal', [A], '1.2.3.4', NONE, new Set([backendKey(A)]))).toBeNull();
  });

  it('skips excluded backends (those that just failed to connect)', () => {
    const b = new Balancer();
    const ex = new Set([backendKey(A)]);
    expect([0, 1, 2].map(() => b.pick('svc', 'internal', [A, B, C], '1.2.3.4', NONE, ex)!.ip)).toEqual([B.ip, C.ip, B.ip]);
  });

  it('a shrunk backend list never indexes past its end', () => {
    const b = new Balancer();
    for (let i = 0; i < 2; i++) b.pick('svc', 'internal', [A, B, C], 'x', NONE);
    expect(b.pick('svc', 'internal', [A], 'x', NONE)!.ip).toBe(A.ip);
  });
});

describe('Balancer: ClientIP affinity with its timeout (injected clock)', () => {
  it('one client keeps its backend; another client is balanced', () => {
    const c = clock();
    const b = new Balancer({ now: c.now });
    const first = b.pick('svc', 'internal', [A, B, C], '10.244.1.9', sticky(10))!;
    for (let i = 0; i < 5; i++) {
      c.advance(1000);
      expect(b.pick('svc', 'internal', [A, B, C], '10.244.1.9', sticky(10))).toBe(first);
    }
    expect(b.pick('svc', 'internal', [A, B, C], '10.244.1.8', sticky(10))).not.toBe(first);
    expect(b.affinityEntries()).toBe(2);
  });

  it('the timeout counts from the last connection, and an idle client is balanced again', () => {
    const c = clock();
    const b = new Balancer({ now: c.now });
    const first = b.pick('svc', 'internal', [A, B], 'cl', sticky(10))!;
    c.advance(9_999);
    expect(b.pick('svc', 'internal', [A, B], 'cl', sticky(10))).toBe(first); // refreshed here
    c.advance(9_999);
    expect(b.pick('svc', 'internal', [A, B], 'cl', sticky(10))).toBe(first);
    c.advance(10_000);
    // expired: round-robin moves on from `first`
    expect(b.pick('svc', 'internal', [A, B], 'cl', sticky(10))).not.toBe(first);
  });

  it('a sticky backend that left the Service, or failed to connect, is replaced', () => {
    const c = clock();
    const b = new Balancer({ now: c.now });
    expect(b.pick('svc', 'internal', [A, B], 'cl', sticky(60))).toBe(A);
    expect(b.pick('svc', 'internal', [B, C], 'cl', sticky(60))!.ip).not.toBe(A.ip);
    const now = b.pick('svc', 'internal', [B, C], 'cl', sticky(60))!;
    const next = b.pick('svc', 'internal', [B, C], 'cl', sticky(60), new Set([backendKey(now)]))!;
    expect(next).not.toBe(now);
    expect(b.pick('svc', 'internal', [B, C], 'cl', sticky(60))).toBe(next);
  });

  it('prune drops expired entries, services gone, and services no longer sticky', () => {
    const c = clock();
    const b = new Balancer({ now: c.now });
    b.pick('s1', 'internal', [A], 'x', sticky(10));
    c.advance(5_000);
    b.pick('s1', 'internal', [A], 'y', sticky(10));
    b.pick('s2', 'internal', [A], 'x', sticky(10));
    b.pick('s3', 'internal', [A], 'x', sticky(10));
    c.advance(6_000);
    b.prune(new Map<string, Affinity>([['s1', sticky(10)], ['s2', NONE]]));
    expect(b.affinityEntries()).toBe(1); // s1/y only
    c.advance(5_000);
    b.prune(new Map<string, Affinity>([['s1', sticky(10)]]));
    expect(b.affinityEntries()).toBe(0);
  });
});
