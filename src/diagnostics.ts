// The sidecar's own diagnostics: one line per event on stderr with a level, so stdout stays the access log.
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

export interface Logger {
  readonly debugEnabled: boolean;
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export function createLogger(level: LogLevel, name = 'meshlight'): Logger {
  const min = LOG_LEVELS.indexOf(level);
  const write = (lvl: LogLevel, message: string): void => {
    if (LOG_LEVELS.indexOf(lvl) >= min) process.stderr.write(`${new Date().toISOString()} ${lvl} ${name}: ${message}\n`);
  };
  return {
    debugEnabled: min === 0,
    debug: (m) => write('debug', m),
    info: (m) => write('info', m),
    warn: (m) => write('warn', m),
    error: (m) => write('error', m),
  };
}

/**
 * A string a client sent (a node id, a NACK message, a request target), for a diagnostic: JSON-quoted,
 * so a newline or a control character cannot forge a line of its own, and cut to `max` characters.
 */
export function quote(value: string, max = 200): string {
  return JSON.stringify(value.length > max ? `${value.slice(0, max)}...` : value);
}
