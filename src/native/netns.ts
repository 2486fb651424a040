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
