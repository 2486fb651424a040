// `ebpf-kube-proxy bench <suite> [--json]`: measurements, never tests. Each
// suite compares what it compares interleaved in one run and reports ratios,
// because this machine is shared and noisy.
export interface BenchSuite {
  describe: string;
  run(args: string[]): Promise<number>;
}

const SUITES: Record<string, () => Promise<BenchSuite>> = {
  datapath: async () => (await import('./datapath.js')).suite,
  controlplane: async () => (await import('./controlplane.js')).suite,
  wire: async () => (await import('./wire.js')).suite,
  sync: async () => (await import('./sync.js')).suite,
  lab: async () => (await import('./lab/index.js')).suite,
};

export async function runBench(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  const load = name ? SUITES[name] : undefined;
  if (!load) {
    const lines = await Promise.all(Object.entries(SUITES).map(async ([n, l]) => {
      try {
        return `  ${n.padEnd(13)} ${(await l()).describe}`;
      } catch {
        return `  ${n.padEnd(13)} (not built yet)`;
      }
    }));
    process.stderr.write(`${name ? `bench: unknown suite ${JSON.stringify(name)}\n` : ''}usage: ebpf-kube-proxy bench <suite> [--json]\n\nsuites:\n${lines.join('\n')}\n`);
    return 2;
  }
  return (await load()).run(rest);
}
