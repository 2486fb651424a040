// Kernel tests need root and a BPF-capable kernel. Locally a missing capability
// skips with a reason; in CI (CI set) it fails, so a green run always means the
// kernel parts really ran.
import { release } from 'node:os';
import { it } from 'vitest';

/** `minKernel`: [major, minor] the tests need (a test-run flag, a helper). */
export function missingCapability(minKernel?: readonly [number, number]): string | null {
  if (process.getuid?.() !== 0) return 'kernel tests need root';
  if (minKernel) {
    const [major = 0, minor = 0] = release().split(/[.-]/).map(Number);
    if (major < minKernel[0] || (major === minKernel[0] && minor < minKernel[1])) return `this test needs Linux ${minKernel.join('.')}+ (running ${release()})`;
  }
  return null;
}

/** `it` when the machine can run kernel tests; otherwise a skip (locally) or a failing test (CI). */
export function kernelIt(minKernel?: readonly [number, number]): typeof it {
  const why = missingCapability(minKernel);
  if (why === null) return it;
  if (process.env.CI) {
    const failing = ((name: string) => it(name, () => { throw new Error(`${why}: required in CI`); })) as unknown as typeof it;
    return Object.assign(failing, { each: () => failing }) as typeof it;
  }
  return it.skip as unknown as typeof it;
}
