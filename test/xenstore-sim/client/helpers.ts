/**
 * Shared test plumbing for the xenstore client tests: short per-test directories (sun_path is
 * 108 bytes), the real C xenstored via the oracle script, and the CI rule (a missing tool fails
 * under CI=true, skips with a printed reason elsewhere).
 */
import type { ExecutionContext } from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

export const ORACLE_SCRIPT = '/work/shared/tools/xenstore-oracle/xs-oracle.sh';
export const C_XENSTORED = '/usr/lib/xen-4.17/bin/xenstored';
export const LIBXENSTORE = '/usr/lib/x86_64-linux-gnu/libxenstore.so.4';
export const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
export const SPLITBLK_BIN = `${REPO_ROOT}bin/splitblk.js`;

/**
 * Whether `ok`; if not, fail under CI=true and otherwise log why the test is skipped. Returns
 * `ok` so tests can `if (!need(t, ...)) return;`.
 */
export function need(t: ExecutionContext, ok: boolean, reason: string): boolean {
  if (ok) return true;
  if (process.env.CI === 'true') {
    t.fail(`required under CI: ${reason}`);
  } else {
    t.log(`skipped: ${reason}`);
    t.pass();
  }
  return false;
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

export interface Daemon {
  socketPath: string;
  dir: string;
  child: ChildProcess;
  stderr(): string;
  stop(): Promise<void>;
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
  await exited;
  clearTimeout(timer);
}

/** Daemons still running, killed if the worker exits without stopping them (a timed-out test). */
const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

async function startDaemon(prefix: string, argv: (dir: string) => string[], socketOf: (dir: string) => string): Promise<Daemon> {
  const tmp = await shortTempDir(prefix);
  const [cmd, ...args] = argv(tmp.dir);
  const child = spawn(cmd!, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  running.add(child);
  child.once('exit', () => running.delete(child));
  let err = '';
  child.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const socketPath = socketOf(tmp.dir);
  try {
    await waitForPath(socketPath, 10_000, child);
  } catch (error) {
    await stopChild(child);
    await tmp.remove();
    throw new Error(`${(error as Error).message}\n${err}`);
  }
  return {
    socketPath,
    dir: tmp.dir,
    child,
    stderr: () => err,
    async stop() {
      await stopChild(child);
      await tmp.remove();
    },
  };
}

export const oracleAvailable = (): boolean => existsSync(ORACLE_SCRIPT) && existsSync(C_XENSTORED) && existsSync('/usr/bin/gcc');

/** The real C xenstored 4.17 on a unix socket (no hypervisor), via the oracle script. */
export function startOracle(): Promise<Daemon> {
  return startDaemon('xso', (dir) => ['/bin/sh', ORACLE_SCRIPT, 'c', dir], (dir) => `${dir}/socket`);
}

export const simAvailable = (): boolean => existsSync(`${REPO_ROOT}build/src/xenstore-sim/server/daemon.js`) || existsSync(`${REPO_ROOT}build/src/cli/commands/xenstored.js`);

/** Our daemon as a separate process: `splitblk xenstored --socket DIR/socket`. */
export function startSim(extra: string[] = []): Promise<Daemon> {
  return startDaemon('xss', (dir) => [process.execPath, SPLITBLK_BIN, 'xenstored', '--socket', `${dir}/socket`, ...extra], (dir) => `${dir}/socket`);
}

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
