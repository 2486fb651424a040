// The lab under the VM's software emulation (test/vm/ipvs.test.ts runs e2e files in the guest with
// EKP_IN_VM=1). A proxy needs ~12 s of CPU there to start (node, imports, probe, first sync), and
// the lab starts two at once: 45 s was once too short on a busy host, and the lab's default is
// 60 s. In the VM only, proxies get 100 s, and a sync of a changed manifest 30 s rather than 10.
//
// For a test file's vi.mock factory (it cannot close over imports):
//   vi.mock('../../src/lab/index.js', async (orig) => (await import('./vm-slow.js')).slowLab(orig));

type Lab = typeof import('../../src/lab/index.js');

export const IN_VM = process.env.EKP_IN_VM === '1';

export async function slowLab(importOriginal: () => Promise<Lab>): Promise<Lab> {
  const lab = await importOriginal();
  if (!IN_VM) return lab;
  const slow = <T extends { readyTimeoutMs?: number }>(o: T): T => ({ ...o, readyTimeoutMs: o.readyTimeoutMs ?? 100_000 });
  const timed = async <T>(what: string, p: Promise<T>): Promise<T> => {
    const t0 = Date.now();
    const v = await p;
    console.log(`EKP-VM: ${what} took ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    return v;
  };
  return {
    ...lab,
    labUp: (...a: Parameters<Lab['labUp']>) => timed('lab up', lab.labUp(...a)),
    startProxies: (l: Parameters<Lab['startProxies']>[0], o: Parameters<Lab['startProxies']>[1]) => timed('starting both proxies', lab.startProxies(l, slow(o))),
    startProxy: (l: Parameters<Lab['startProxy']>[0], n: Parameters<Lab['startProxy']>[1], o: Parameters<Lab['startProxy']>[2]) => lab.startProxy(l, n, slow(o)),
    // A sync takes a second or two here, more while the host's own tests share the CPU; 10 s was once too short.
    waitSynced: (l: Parameters<Lab['waitSynced']>[0], since: number, timeoutMs?: number) => lab.waitSynced(l, since, timeoutMs ?? 30_000),
  };
}
