// What upstream kube-proxy leaves on a node we replace, beyond the KUBE-* iptables chains our
// iptables mode shares by name (its cleaner removes them): nftables mode's `kube-proxy` tables.
// They DNAT at the same hook and priority as ours, and may run first: a node migrated from
// kube-proxy's nftables mode would send Services' traffic to the pods of its last sync.
import type { DataplaneContext } from './types.js';
import { runCommand, type Runner } from './run.js';

const UPSTREAM_TABLES = [['ip', 'kube-proxy'], ['ip6', 'kube-proxy']] as const;

/** Deletes what is there; a machine without nft, or without the tables, has nothing to remove. */
export async function cleanupUpstream(_ctx: DataplaneContext, run: Runner = runCommand): Promise<string[]> {
  const removed: string[] = [];
  for (const [family, table] of UPSTREAM_TABLES) {
    if ((await run(['nft', 'delete', 'table', family, table])).status === 0) removed.push(`upstream kube-proxy's nftables table ${family} ${table}`);
  }
  return removed;
}
