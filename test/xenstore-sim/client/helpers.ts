/**
 * Shared test plumbing for the xenstore client tests: short per-test directories (sun_path is
 * 108 bytes), the daemons (from ../helpers/daemons.ts) and the CI rule (../../helpers/ci.ts).
 */
import type { ExecutionContext } from 'ava';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { available } from '../../helpers/ci.js';
import { repoRoot } from '../../helpers/repo.js';

export const LIBXENSTORE = '/usr/lib/x86_64-linux-gnu/libxenstore.so.4';
export const SPLITBLK_BIN = join(repoRoot(), 'bin/splitblk.js');

/**
 * Whether `ok`; if not, fail under CI=true and otherwise log why the test is skipped. Returns
 * `ok` so tests can `if (!need(t, ...)) return;`.
 */
export function need(t: ExecutionContext, ok: boolean, reason: string): boolean {
  return available(t, ok ? undefined : reason);
}

export async function shortTempDir(prefix: string): Promise<{ dir: string; remove(): Promise<void> }> {
  const dir = await mkdtemp(`/tmp/${prefix}`);
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

export async function waitForPath(path: string, timeoutMs: number, child?: ChildProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child !== undefined && child.exitCode !== null) throw new Error(`process exited (${child.exitCode}) before creating ${path}`);
    try {
      await stat(path);
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  throw new Error(`${path} did not appear within ${timeoutMs} ms`);
}

export { oracleAvailable, startOracle, startSim, type Daemon } from '../helpers/daemons.js';

/** Resolve when `p` settles or reject after `ms` (so a hung daemon fails a test instead of hanging it). */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
    }),
  ]);
}
