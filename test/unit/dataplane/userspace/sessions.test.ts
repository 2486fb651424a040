import { describe, expect, it } from 'vitest';
import { SessionTable } from '../../../../src/dataplane/userspace/sessions.js';

function table(opts: { idleMs?: number; max?: number } = {}) {
  let t = 0;
  const tab = new SessionTable<string>({ idleMs: opts.idleMs ?? 30_000, max: opts.max ?? 100, now: () => t });
  return { tab, advance: (ms: number) => void (t += ms) };
}

describe('SessionTable: UDP sessions with an idle timeout (injected clock)', () => {
  it('a session lives while datagrams flow either way, and ends once idle for the timeout', () => {
    const { tab, advance } = table({ idleMs: 1000 });
    expect(tab.add('c1', 's1')).toBe(true);
    advance(900);
    expect(tab.get('c1')).toBe('s1'); // client → backend
    advance(900);
    tab.touch('c1'); // backend → client
    advance(900);
    expect(tab.sweep()).toEqual([]);
    advance(100);
    expect(tab.sweep()).toEqual([['c1', 's1']]);
    expect(tab.get('c1')).toBeUndefined();
    expect(tab.size).toBe(0);
  });

  it('only the sweep ends a session: one past its timeout is revived by traffic before the sweep', () => {
    const { tab, advance } = table({ idleMs: 1000 });
    tab.add('c1', 's1');
    advance(5000);
    expect(tab.get('c1')).toBe('s1');
    expect(tab.sweep()).toEqual([]);
  });

  it('sweeps only the idle ones', () => {
    const { tab, advance } = table({ idleMs: 1000 });
    tab.add('old', 'a');
    advance(600);
    tab.add('new', 'b');
    advance(500);
    expect(tab.sweep()).toEqual([['old', 'a']]);
    expect([...tab.sessions()]).toEqual(['b']);
  });

  it('refuses new sessions beyond max; an existing key is replaced', () => {
    const { tab } = table({ max: 2 });
    expect(tab.add('a', '1')).toBe(true);
    expect(tab.add('b', '2')).toBe(true);
    expect(tab.add('c', '3')).toBe(false);
    expect(tab.add('a', '1b')).toBe(true);
    expect(tab.get('a')).toBe('1b');
  });

  it('removeWhere and delete hand back what they removed', () => {
    const { tab } = table();
    tab.add('a', 'to-x');
    tab.add('b', 'to-y');
    tab.add('c', 'to-x');
    expect(tab.removeWhere((s) => s === 'to-x').map(([k]) => k).sort()).toEqual(['a', 'c']);
    expect(tab.delete('b')).toBe('to-y');
    expect(tab.delete('b')).toBeUndefined();
    expect(tab.size).toBe(0);
  });

  it('key(): address and port', () => {
    expect(SessionTable.key('10.0.0.1', 53)).toBe('10.0.0.1|53');
  });
});
