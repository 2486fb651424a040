// What a load that misses the caches costs on this machine: the unit in which a new flow's
// conntrack work is paid (each insert touches a hash bucket and a free element that nothing
// has touched lately), so the report can say how many such loads syn_vip's conntrack part is.

/**
 * Mean ns per step of a pointer chase through one random cycle over `bytes` of 64-byte
 * lines: each load depends on the one before and no prefetcher can guess the next line, so
 * every step waits for memory (and, at this size, for a page walk too, as the kernel's
 * lookups into tens of MiB of conntrack do).
 */
export function memoryLatencyNs(bytes = 64 << 20, steps = 2_000_000): number {
  const WORDS = 16; // u32s per 64-byte line
  const lines = Math.floor(bytes / 64);
  const order = new Uint32Array(lines);
  for (let i = 0; i < lines; i++) order[i] = i;
  for (let i = lines - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    const t = order[i]!;
    order[i] = order[j]!;
    order[j] = t;
  }
  const next = new Uint32Array(lines * WORDS);
  for (let i = 0; i < lines; i++) next[order[i]! * WORDS] = order[(i + 1) % lines]! * WORDS;
  let p = 0;
  for (let i = 0; i < steps >> 2; i++) p = next[p]!; // warm up the loop and the page tables
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < steps; i++) p = next[p]!;
  const ns = Number(process.hrtime.bigint() - t0) / steps;
  if (p >= next.length) throw new Error('memoryLatencyNs: the chase left the array'); // keeps p live
  return ns;
}
