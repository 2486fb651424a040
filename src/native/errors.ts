/** An error from the kernel or libbpf, as the addon throws it. */
export interface BpfError extends Error {
  code: string;
  errno: number;
  syscall: string;
  /** libbpf's log lines for the failure (the verifier's reason on a failed load). */
  log?: string;
  map?: string;
  program?: string;
}

export function isBpfError(e: unknown): e is BpfError {
  return e instanceof Error && typeof (e as BpfError).errno === 'number' && typeof (e as BpfError).syscall === 'string';
}

/**
 * Runs `fn` and names the map or program in any error it throws; C++ knows only
 * file descriptors, the caller knows which map it meant.
 */
export function naming<T>(subject: { map?: string; program?: string }, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw annotate(e, subject);
  }
}

export function annotate(e: unknown, subject: { map?: string; program?: string }): unknown {
  if (!(e instanceof Error)) return e;
  const label = subject.map !== undefined ? `map ${subject.map}` : `program ${subject.program}`;
  if (!e.message.startsWith(label)) e.message = `${label}: ${e.message}`;
  Object.assign(e, subject);
  return e;
}
