import { defineConfig } from 'vitest/config';
import { VmLastSequencer } from './test/vm/sequencer.js';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The guest files of the qemu VM of test/vm/ipvs.test.ts: the ipvs ones need IP_VS, and
    // bpf-kernel is about the VM's kernel (the test/bpf files cover the host's).
    exclude: ['**/node_modules/**', ...(process.env.EKP_IN_VM === '1' ? [] : ['test/e2e/ipvs.test.ts', 'test/e2e/bench-sync-ipvs.test.ts', 'test/e2e/bpf-kernel.test.ts'])],
    // Kernel tests share one machine's BPF and netns state; files run one at a time
    // so that two suites never race for the same interface or pin directory. The qemu VM
    // is another machine: it boots in the global setup and runs beside them (test/vm/). The
    // guest's own vitest (EKP_IN_VM) boots nothing.
    fileParallelism: false,
    globalSetup: process.env.EKP_IN_VM === '1' ? [] : ['test/vm/global-setup.ts'],
    sequence: { sequencer: VmLastSequencer },
    testTimeout: 30_000,
    hookTimeout: 60_000,
    reporters: ['default'],
  },
});
