import { writeFileSync } from 'node:fs';

/** Writes a sysctl of this network namespace (/proc/sys/net follows the writer's): null, or what went wrong. */
export function writeSysctl(path: string, value: string): string | null {
  try {
    writeFileSync(path, value);
    return null;
  } catch (e) {
    return `${path}: ${(e as Error).message}`;
  }
}
