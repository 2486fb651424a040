import { native } from './binding.js';

/**
 * Runs `fn` with this thread inside the network namespace at `path` (e.g.
 * /run/netns/NAME) and steps back afterwards, even when fn throws. `fn` must be
 * synchronous: awaiting inside would let other callbacks run in the namespace.
 */
export function withNetns<T>(path: string, fn: () => T): T {
  if (typeof path !== 'string' || !path.startsWith('/')) throw new TypeError(`netns path must be absolute, got ${JSON.stringify(path)}`);
  const prev = native().netnsEnter(path);
  try {
    const out = fn();
    if (out instanceof Promise) throw new TypeError('withNetns: fn must be synchronous');
    return out;
  } finally {
    native().netnsRestore(prev);
  }
}

/**
 * Moves this thread into the network namespace at `path` until the returned function
 * is called, which moves it back: for a test harness whose hooks and tests must all
 * run there (every callback on this thread meanwhile runs there too). Prefer withNetns.
 */
export function enterNetns(path: string): () => void {
  if (typeof path !== 'string' || !path.startsWith('/')) throw new TypeError(`netns path must be absolute, got ${JSON.stringify(path)}`);
  const prev = native().netnsEnter(path);
  let left = false;
  return () => {
    if (left) return;
    left = true;
    native().netnsRestore(prev);
  };
}
