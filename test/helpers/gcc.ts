/**
 * Compiling small C programs in tests (layout checks against the Xen headers, C peers of our
 * protocols). Whether gcc is here is asked once per call site through gccMissing(), and the
 * answer goes to ci.ts's available().
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/**
 * Why C programs cannot be built here, or undefined when gcc and every header in `headers`
 * (absolute paths, e.g. /usr/include/xen/io/ring.h from libxen-dev) are present.
 */
export function gccMissing(headers: readonly string[] = []): string | undefined {
  if (spawnSync('gcc', ['--version']).status !== 0) return 'gcc is not installed';
  const absent = headers.find((h) => !existsSync(h));
  return absent === undefined ? undefined : `${absent} is missing (libxen-dev)`;
}

/** Run gcc with `args` and return its stdout; throws with its stderr when it fails. */
export function gcc(args: readonly string[]): string {
  const r = spawnSync('gcc', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`gcc ${args.join(' ')} failed:\n${r.stderr}`);
  return r.stdout;
}
