/**
 * Test helper: compile a small C program against the installed Xen headers. When gcc is
 * missing the test skips with a printed reason, except under CI=true where it fails (CI
 * installs gcc and libxen-dev, so a missing tool there is a broken environment).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ExecutionContext } from 'ava';

/** The repository root, from build/test/<area>/x.js or test/<area>/x.ts. */
export function repoRoot(): string {
  let dir = fileURLToPath(new URL('.', import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) dir = join(dir, '..');
  return dir;
}

/** Whether gcc and the Xen headers are here; logs and passes (or fails under CI) when not. */
export function haveToolchain(t: ExecutionContext): boolean {
  const gcc = spawnSync('gcc', ['--version'], { encoding: 'utf8' });
  const reason = gcc.error
    ? 'gcc is not installed'
    : existsSync('/usr/include/xen/io/ring.h')
      ? undefined
      : '/usr/include/xen/io/ring.h is missing (libxen-dev)';
  if (reason === undefined) return true;
  if (process.env['CI'] === 'true') {
    t.fail(`${reason}: required under CI`);
  } else {
    t.log(`skipped: ${reason}`);
    t.pass();
  }
  return false;
}

/** A temporary directory removed at the end of the test. */
export function tempDir(t: ExecutionContext, prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Run gcc with `args`; throws with its stderr when it fails. */
export function gcc(args: string[]): string {
  const r = spawnSync('gcc', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`gcc ${args.join(' ')} failed:\n${r.stderr}`);
  return r.stdout;
}
