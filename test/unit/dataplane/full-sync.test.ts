import { describe, expect, it } from 'vitest';
import { FULL_SYNC_PERIOD_MS, FullSyncSchedule } from '../../../src/dataplane/full-sync.js';

describe('FullSyncSchedule (kube-proxy FullSyncPeriod)', () => {
  it('is due first, then once per period, and again after a failed write', () => {
    let now = 1_000;
    const s = new FullSyncSchedule(() => now);
    expect(s.due()).toBe(true);
    s.committed(true);
    now += 30_000;
    expect(s.due()).toBe(false);
    s.committed(false); // a periodic sync does not restart the period
    now += FULL_SYNC_PERIOD_MS - 30_000 - 1;
    expect(s.due()).toBe(false);
    now += 1;
    expect(s.due()).toBe(true);
    s.committed(true);
    expect(s.due()).toBe(false);
    s.failed();
    expect(s.due()).toBe(true);
    s.committed(true);
    expect(s.due()).toBe(false);
  });
});
