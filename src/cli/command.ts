import { parseArgs, type ParseArgsConfig } from 'node:util';

/** Exit codes shared by every verb (documented in docs/cli.md). */
export const EXIT_OK = 0;
/** The operation failed (the message says why). */
export const EXIT_FAILURE = 1;
/** Bad usage: unknown flag, missing or malformed argument. */
export const EXIT_USAGE = 2;

/** What a verb needs from its environment, passed in rather than read from globals. */
export interface CommandContext {
  env: NodeJS.ProcessEnv;
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream;
  /** Where `splitblk` itself can be re-executed (for starting child processes). */
  selfArgv: string[];
}

export interface Command {
  /** One line for `splitblk help`. */
  summary: string;
  /** Full usage text. */
  usage: string;
  run(argv: string[], ctx: CommandContext): Promise<number>;
}

/** A usage error: printed as one line, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** node:util parseArgs with errors turned into UsageError. */
export function parseFlags<T extends ParseArgsConfig['options']>(
  argv: string[],
  options: T,
  allowPositionals = true,
) {
  try {
    return parseArgs({ args: argv, options, allowPositionals, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/** Parse a flag value as an integer within [min, max], or throw a UsageError naming the flag. */
export function intFlag(name: string, value: string | undefined, fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return fallback;
  if (!/^-?\d+$/.test(value)) throw new UsageError(`--${name}: not an integer: ${JSON.stringify(value)}`);
  const n = Number(value);
  if (n < min || n > max) throw new UsageError(`--${name}: ${n} is out of range [${min}, ${max}]`);
  return n;
}

/** Parse a size such as 4096, 4k, 64K, 1M, 256MiB, 2G into bytes. */
export function sizeFlag(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const m = /^(\d+)\s*([kmgt]?)(i?b)?$/i.exec(value.trim());
  if (!m) throw new UsageError(`--${name}: not a size: ${JSON.stringify(value)}`);
  const unit = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[m[2]!.toLowerCase()]!;
  return Number(m[1]) * unit;
}

/** `--output=json` or a table on a TTY. */
export type OutputFormat = 'human' | 'json';

export function outputFlag(value: string | undefined): OutputFormat {
  if (value === undefined || value === 'human' || value === 'table') return 'human';
  if (value === 'json') return 'json';
  throw new UsageError(`--output: expected json or human, got ${JSON.stringify(value)}`);
}
