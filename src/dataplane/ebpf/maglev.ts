// Maglev consistent hashing (Eisenbud et al., NSDI'16, §3.4): each backend gets a
// permutation of the M table slots from two hashes of its name, and backends take turns
// claiming their next free preferred slot. Every backend ends up with floor(M/N) or
// ceil(M/N) slots, and a change of one backend moves about 1/N of them. The datapath
// only indexes the table (flow hash % M); it never needs these hashes.
import { createHash } from 'node:crypto';

/** Table sizes (primes), smallest first. */
export const MAGLEV_PRIMES = [251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521] as const;
export const MAGLEV_DEFAULT_MAX = 16381;
/** M >= this many slots per backend keeps the disruption of a change near 1/N (paper §5.3). */
export const MAGLEV_SLOTS_PER_BACKEND = 100;

export interface MaglevBackend {
  /** Backend id written into the table (ekp_backend_v1 key). */
  id: number;
  /** Stable identity hashed for the permutation, e.g. "10.244.1.5:8080". */
  name: string;
}

/** Smallest listed prime >= 100·N, capped at maxSize (itself rounded down to a listed prime). */
export function maglevTableSize(backendCount: number, maxSize: number = MAGLEV_DEFAULT_MAX): number {
  const allowed = MAGLEV_PRIMES.filter((p) => p <= maxSize);
  if (allowed.length === 0) throw new RangeError(`maglev: maxSize ${maxSize} is below the smallest table size ${MAGLEV_PRIMES[0]}`);
  const want = Math.max(1, backendCount) * MAGLEV_SLOTS_PER_BACKEND;
  return allowed.find((p) => p >= want) ?? allowed[allowed.length - 1]!;
}

function hashes(name: string, seed: string): [number, number] {
  const h = createHash('sha256').update(seed).update('\0').update(name).digest();
  return [h.readUInt32LE(0), h.readUInt32LE(4)];
}

/**
 * The lookup table: size M (see maglevTableSize), each entry a backend id. Input order
 * does not matter. An empty backend list gives an empty table.
 */
export function maglevTable(backends: readonly MaglevBackend[], opts: { size?: number; seed?: string } = {}): Uint32Array {
  if (backends.length === 0) return new Uint32Array(0);
  const sorted = [...backends].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.id - b.id));
  const names = new Set(sorted.map((b) => b.name));
  if (names.size !== sorted.length) throw new Error('maglev: backend names must be unique');
  const m = opts.size ?? maglevTableSize(sorted.length);
  const seed = opts.seed ?? 'ekp-maglev';
  const n = sorted.length;
  const offset = new Uint32Array(n);
  const skip = new Uint32Array(n);
  sorted.forEach((b, i) => {
    const [h1, h2] = hashes(b.name, seed);
    offset[i] = h1 % m;
    skip[i] = (h2 % (m - 1)) + 1;
  });
  const next = new Uint32Array(n);
  const entry = new Int32Array(m).fill(-1);
  let filled = 0;
  for (;;) {
    for (let i = 0; i < n; i++) {
      let c = (offset[i]! + next[i]! * skip[i]!) % m;
      while (entry[c]! >= 0) {
        next[i]!++;
        c = (offset[i]! + next[i]! * skip[i]!) % m;
      }
      entry[c] = i;
      next[i]!++;
      if (++filled === m) return Uint32Array.from(entry, (e) => sorted[e]!.id);
    }
  }
}
