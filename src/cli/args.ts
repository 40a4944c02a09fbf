// Flag parsing for every subcommand: node's util.parseArgs (long flags, `--name value` and `--name=value`)
// plus typed value checks, so a bad flag is one line on stderr and exit 2.
import { parseArgs } from 'node:util';
import { parseDuration } from '../config/duration.js';

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export interface FlagSpec {
  readonly type: 'string' | 'boolean';
  readonly help: string;
  readonly multiple?: boolean;
  readonly default?: string;
}

export type FlagSpecs = Readonly<Record<string, FlagSpec>>;

export interface Parsed {
  readonly values: Readonly<Record<string, string | boolean | (string | boolean)[] | undefined>>;
  readonly positionals: readonly string[];
  readonly help: boolean;
}

export function parseFlags(argv: string[], specs: FlagSpecs, allowPositionals: boolean): Parsed {
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }> = {
    help: { type: 'boolean', short: 'h' },
  };
  for (const [name, spec] of Object.entries(specs)) {
    options[name] = spec.multiple === true ? { type: spec.type, multiple: true } : { type: spec.type };
  }
  try {
    const { values, positionals } = parseArgs({ args: argv, options, allowPositionals, strict: true });
    const withDefaults: Record<string, string | boolean | (string | boolean)[] | undefined> = { ...values };
    for (const [name, spec] of Object.entries(specs)) {
      if (withDefaults[name] === undefined && spec.default !== undefined) withDefaults[name] = spec.default;
    }
    return { values: withDefaults, positionals, help: values['help'] === true };
  } catch (err) {
    // parseArgs messages are long, some span lines, and mention `strict`; keep the first sentence.
    const message = err instanceof Error ? err.message.split('\n')[0]!.split('. ')[0]!.replace(/\.$/, '') : String(err);
    throw new UsageError(message);
  }
}

export function helpText(usage: string, specs: FlagSpecs): string {
  const flags = Object.entries(specs).map(([name, spec]) => [spec.type === 'string' ? `--${name} VALUE` : `--${name}`, spec] as const);
  // One column for the help, wide enough for the longest flag.
  const width = Math.max(28, ...flags.map(([flag]) => flag.length + 1));
  const rows = flags.map(([flag, spec]) => {
    const def = spec.default !== undefined ? ` (default ${spec.default})` : '';
    return `  ${flag.padEnd(width)} ${spec.help}${def}`;
  });
  return `usage: ${usage}\n\nflags:\n${rows.join('\n')}\n  ${'--help'.padEnd(width)} this text\n`;
}

export function stringFlag(parsed: Parsed, name: string): string | undefined {
  const v = parsed.values[name];
  return typeof v === 'string' ? v : undefined;
}

export function portFlag(parsed: Parsed, name: string): number | undefined {
  const v = stringFlag(parsed, name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!/^\d+$/.test(v) || n > 65535) throw new UsageError(`--${name} must be a port number 0-65535, got '${v}'`);
  return n;
}

/** A `HOST:PORT` flag (IPv6 as `[::1]:15010`), or undefined when absent. */
export function hostPortFlag(parsed: Parsed, name: string): string | undefined {
  const v = stringFlag(parsed, name);
  if (v !== undefined && !/^(\[[0-9a-fA-F:.]+\]|[^:\s/]+):\d{1,5}$/.test(v)) throw new UsageError(`--${name} must be HOST:PORT, e.g. 127.0.0.1:15010, got '${v}'`);
  return v;
}

export function positiveIntFlag(parsed: Parsed, name: string): number | undefined {
  const v = stringFlag(parsed, name);
  if (v === undefined) return undefined;
  if (!/^[1-9]\d*$/.test(v)) throw new UsageError(`--${name} must be a positive whole number, got '${v}'`);
  return Number(v);
}

/** Milliseconds of a `250ms` / `5s` / `1m` flag, or undefined when absent. */
export function durationFlag(parsed: Parsed, name: string): number | undefined {
  const v = stringFlag(parsed, name);
  if (v === undefined) return undefined;
  const ms = parseDuration(v);
  if (ms === undefined) throw new UsageError(`--${name} must be a duration like 250ms, 5s or 1m, got '${v}'`);
  return ms;
}
