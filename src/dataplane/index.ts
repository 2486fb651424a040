import type { ProxyMode } from '../probe/index.js';
import type { Cleaner, Dataplane, DataplaneContext } from './types.js';
import { cleanupUpstream } from './upstream.js';

export type { Dataplane, DataplaneContext, Cleaner, KernelSample } from './types.js';

type Factory = (ctx: DataplaneContext) => Promise<Dataplane>;

/** Modes are loaded on demand so that one mode's dependencies never stop another from starting. */
const FACTORIES: Partial<Record<ProxyMode, () => Promise<{ create: Factory; cleanup: Cleaner }>>> = {
  ebpf: async () => {
    const m = await import('./ebpf/index.js');
    return { create: m.createEbpfDataplane, cleanup: m.cleanupEbpf };
  },
  ipvs: async () => {
    const m = await import('./ipvs/index.js');
    return { create: m.createIpvsDataplane, cleanup: m.cleanupIpvs };
  },
  nftables: async () => {
    const m = await import('./nftables/index.js');
    return { create: m.createNftablesDataplane, cleanup: m.cleanupNftables };
  },
  iptables: async () => {
    const m = await import('./iptables/index.js');
    return { create: m.createIptablesDataplane, cleanup: m.cleanupIptables };
  },
  userspace: async () => {
    const m = await import('./userspace/index.js');
    return { create: m.createUserspaceDataplane, cleanup: m.cleanupUserspace };
  },
};

export function implementedModes(): ProxyMode[] {
  return Object.keys(FACTORIES) as ProxyMode[];
}

export async function createDataplane(mode: ProxyMode, ctx: DataplaneContext): Promise<Dataplane> {
  const load = FACTORIES[mode];
  if (!load) throw new Error(`proxy mode ${mode} is not implemented yet (implemented: ${implementedModes().join(', ')})`);
  return (await load()).create(ctx);
}

/**
 * Switching modes: before a mode starts, every other mode's state goes (a node
 * that ran iptables and now runs ebpf must not keep KUBE-* chains DNATing
 * first), and what upstream kube-proxy left, before them (upstream.ts). A cleaner that cannot run here (bpf() refused, a tool missing) has
 * nothing of ours to remove: it is logged, and the mode starts anyway.
 */
export async function cleanupOtherModes(mode: ProxyMode, ctx: DataplaneContext): Promise<string[]> {
  // Upstream's first: its ipvs chains jump into KUBE-MARK-MASQ, which the iptables cleaner
  // would keep for them.
  const removed = await cleanupUpstream(ctx);
  for (const [other, load] of Object.entries(FACTORIES) as [ProxyMode, () => Promise<{ cleanup: Cleaner }>][]) {
    if (other === mode) continue;
    try {
      removed.push(...(await (await load()).cleanup(ctx)));
    } catch (e) {
      ctx.log.warn('cannot check for state another mode left', { mode: other, error: (e as Error).message });
    }
  }
  return removed;
}

/** --cleanup: every mode's cleaner, whatever mode ran before. */
export async function cleanupAll(ctx: DataplaneContext): Promise<string[]> {
  const removed = await cleanupUpstream(ctx);
  for (const load of Object.values(FACTORIES)) removed.push(...(await (await load()).cleanup(ctx)));
  return removed;
}
