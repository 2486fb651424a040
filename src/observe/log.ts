// Structured logs: one JSON object per line on stderr (or klog-like text), so
// a DaemonSet's logs can be filtered by field.
export type Level = 'debug' | 'info' | 'warn' | 'error';
export type Fields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: Fields): void;
  info(msg: string, fields?: Fields): void;
  warn(msg: string, fields?: Fields): void;
  error(msg: string, fields?: Fields): void;
  with(fields: Fields): Logger;
}

export interface LoggerOptions {
  format: 'json' | 'text';
  verbosity: number;
  write?: (line: string) => void;
  now?: () => Date;
}

export function createLogger(opts: LoggerOptions, base: Fields = {}): Logger {
  const write = opts.write ?? ((line: string) => process.stderr.write(line));
  const now = opts.now ?? (() => new Date());
  const emit = (level: Level, msg: string, fields: Fields = {}) => {
    if (level === 'debug' && opts.verbosity < 2) return;
    const all = { ...base, ...fields };
    if (opts.format === 'json') {
      write(`${JSON.stringify({ ts: now().toISOString(), level, msg, ...all })}\n`);
    } else {
      const kv = Object.entries(all).map(([k, v]) => `${k}=${typeof v === 'string' ? JSON.stringify(v) : JSON.stringify(v)}`).join(' ');
      write(`${level[0]!.toUpperCase()} ${now().toISOString()} ${msg}${kv ? ` ${kv}` : ''}\n`);
    }
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    with: (f) => createLogger(opts, { ...base, ...f }),
  };
}

/** A logger that keeps lines, for tests. */
export function memoryLogger(): Logger & { lines: Fields[] } {
  const lines: Fields[] = [];
  const logger = createLogger({ format: 'json', verbosity: 9, write: (l) => lines.push(JSON.parse(l) as Fields) });
  return Object.assign(logger, { lines });
}
