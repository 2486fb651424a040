// Kernel tests need root and a BPF-capable kernel. Locally a missing capability
// skips with a reason; in CI (CI set) it fails, so a green run always means the
// kernel parts really ran.
import { it } from 'vitest';

export function missingCapability(): string | null {
  if (process.getuid?.() !== 0) return 'kernel tests need root';
  return null;
}

/** `it` when the machine can run kernel tests; otherwise a skip (locally) or a failing test (CI). */
export function kernelIt(): typeof it {
  const why = missingCapability();
  if (why === null) return it;
  if (process.env.CI) {
    const failing = ((name: string) => it(name, () => { throw new Error(`${why}: required in CI`); })) as unknown as typeof it;
    return Object.assign(failing, { each: () => failing }) as typeof it;
  }
  return it.skip as unknown as typeof it;
}
