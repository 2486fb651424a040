import { native } from './binding.js';

/** Creates the nfacct counter `name` in this thread's network namespace unless it exists (its count stays). */
export function nfacctEnsure(name: string): void {
  native().nfacctEnsure(name);
}

/** Packets counted by nfacct counter `name` so far; throws when there is none. */
export function nfacctPackets(name: string): number {
  return native().nfacctPackets(name);
}
