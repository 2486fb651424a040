// What upstream kube-proxy leaves on a node we replace, beyond the KUBE-* iptables chains our
// iptables mode shares by name (its cleaner removes them): nftables mode's `kube-proxy` tables.
// They DNAT at the same hook and priority as ours, and may run first: a node migrated from
// kube-proxy's nftables mode would send Services' traffic to the pods of its last sync. Its
// ipvs mode's state: upstream-ipvs.ts.
import type { DataplaneContext } from './types.js';
import { tablesOfChainListing } from './nftables/ruleset.js';
import { runCommand, type Runner } from './run.js';
import { cleanupUpstreamIpvs } from './upstream-ipvs.js';

const UPSTREAM_TABLES = [['ip', 'kube-proxy'], ['ip6', 'kube-proxy']] as const;

/**
 * Deletes what is there; a machine without nft, or without the tables, has nothing to remove.
 * One listing first, since every start runs this and nearly always finds nothing: of chains, as
 * `nft list tables` would fetch every set element of every table first (seconds for our own
 * nftables mode's at 10,000 services).
 */
export async function cleanupUpstream(ctx: DataplaneContext, run: Runner = runCommand): Promise<string[]> {
  const removed = await cleanupUpstreamIpvs(ctx.log);
  const listing = await run(['nft', 'list', 'chains']);
  if (listing.status !== 0) return removed;
  const present = tablesOfChainListing(listing.stdout);
  for (const [family, table] of UPSTREAM_TABLES) {
    if (!present.has(`${family} ${table}`)) continue;
    if ((await run(['nft', 'delete', 'table', family, table])).status === 0) removed.push(`upstream kube-proxy's nftables table ${family} ${table}`);
  }
  return removed;
}
