// The lab's test for "a manifest change is in this proxy's kernel", read from the /metrics text
// the daemon's own metrics render: a renamed metric fails here, not as e2e timeouts.
import { describe, expect, it } from 'vitest';
import { syncedSince } from '../../../src/lab/proxy.js';
import { HealthState, memoryLogger, proxyMetrics, syncObserver } from '../../../src/observe/index.js';

const report = (pending: { service: number; endpoints: number }, error: Error | null = null) =>
  ({ full: false, durationMs: 1, changedServicePorts: 1, servicePorts: 1, triggerTimesMs: [], pending, error });

describe('syncedSince', () => {
  it('needs a change queued at or after the write and nothing pending', () => {
    let t = 10_000;
    const m = proxyMetrics();
    const o = syncObserver(m, new HealthState(60_000, () => t), memoryLogger(), () => t);
    const text = () => m.registry.render();
    expect(syncedSince(text(), 9_000)).toBe(false); // nothing queued yet
    o.queued!('service', { service: 1, endpoints: 0 });
    expect(syncedSince(text(), 9_000)).toBe(false); // queued, not synced
    t = 10_500;
    // A sync that was writing when the change came ends without it.
    o.synced!(report({ service: 1, endpoints: 0 }));
    expect(syncedSince(text(), 9_000)).toBe(false);
    o.synced!(report({ service: 0, endpoints: 0 }));
    expect(syncedSince(text(), 9_000)).toBe(true);
    expect(syncedSince(text(), 10_001)).toBe(false); // the change queued at 10,000 is older than this write
    o.queued!('endpoints', { service: 0, endpoints: 1 });
    o.synced!(report({ service: 0, endpoints: 1 }, new Error('kernel said no')));
    expect(syncedSince(text(), 10_000)).toBe(false);
  });
});
