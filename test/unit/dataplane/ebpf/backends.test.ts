import { describe, expect, it } from 'vitest';
import { BackendTable } from '../../../../src/dataplane/ebpf/backends.js';

describe('BackendTable', () => {
  it('finds what was added, by address and port, in either family', () => {
    const t = new BackendTable();
    t.add(1, '10.0.0.1', 80, 0);
    t.add(2, '10.0.0.1', 81, 1);
    t.add(3, 'fd00::1', 80, 2);
    expect([t.find('10.0.0.1', 80), t.find('10.0.0.1', 81), t.find('fd00::1', 80)]).toEqual([1, 2, 3]);
    expect([t.find('10.0.0.2', 80), t.find('fd00::1', 81)]).toEqual([-1, -1]);
    expect([t.ip(3), t.port(3), t.flags(2), t.size]).toEqual(['fd00::1', 80, 1, 3]);
    t.remove(3);
    expect(t.find('fd00::1', 80)).toBe(-1);
    expect([...t.ids()]).toEqual([1, 2]);
  });

  it('counts references and marks each id queued once per apply', () => {
    const t = new BackendTable();
    t.add(5, '10.0.0.5', 8080, 0);
    expect([t.ref(5, 1), t.ref(5, 1), t.ref(5, -1), t.refs(5)]).toEqual([1, 2, 1, 1]);
    expect([t.queue(5, 1), t.queue(5, 1), t.queue(5, 2)]).toEqual([true, false, true]);
  });

  it('agrees with a Map through 200,000 random adds and removes (growth, collisions, backward-shift deletes)', () => {
    const t = new BackendTable();
    const ref = new Map<string, number>();
    const byId = new Map<number, string>();
    let seed = 1;
    const rand = (n: number): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed % n;
    };
    let nextId = 1;
    const free: number[] = [];
    for (let step = 0; step < 200_000; step++) {
      // A small address space so that the same keys come back after being removed.
      const ip = rand(8) === 0 ? `fd00::${rand(300).toString(16)}` : `10.${rand(4)}.${rand(64)}.${rand(256)}`;
      const port = 80 + rand(3);
      const key = `${ip}|${port}`;
      const have = ref.get(key);
      expect(t.find(ip, port)).toBe(have ?? -1);
      if (have === undefined) {
        const id = free.pop() ?? nextId++;
        t.add(id, ip, port, 0);
        ref.set(key, id);
        byId.set(id, key);
      } else if (rand(2) === 0) {
        t.remove(have);
        ref.delete(key);
        byId.delete(have);
        free.push(have);
      }
    }
    expect(t.size).toBe(ref.size);
    for (const [key, id] of ref) {
      const [ip, port] = key.split('|');
      expect(t.find(ip!, Number(port))).toBe(id);
    }
    expect([...t.ids()].sort((a, b) => a - b)).toEqual([...byId.keys()].sort((a, b) => a - b));
  });

  it('keeps both ids of an address adopted twice, and each can go', () => {
    const t = new BackendTable();
    t.add(1, '10.0.0.1', 80, -1);
    t.add(2, '10.0.0.1', 80, -1);
    t.add(3, 'fd00::1', 80, -1);
    t.add(4, 'fd00::1', 80, -1);
    t.remove(1);
    t.remove(3);
    expect([t.find('10.0.0.1', 80), t.find('fd00::1', 80)]).toEqual([2, 4]);
    t.remove(2);
    t.remove(4);
    expect([t.find('10.0.0.1', 80), t.find('fd00::1', 80), t.size]).toEqual([-1, -1, 0]);
  });
});
