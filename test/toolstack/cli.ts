/**
 * Drive splitblk as a user does: `node bin/splitblk.js ...` children on a per-test run directory
 * under /dev/shm, torn down by `splitblk down` and then checked for leftovers (any process whose
 * command line names the run directory, the run directory itself).
 */
import type { ExecutionContext } from 'ava';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

/** build/test/toolstack/cli.js → the repository root. */
export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
export const splitblkBin = `${repoRoot}bin/splitblk.js`;

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** A CLI child that outlives this test by more than this is killed (and the test fails on its result). */
const CLI_TIMEOUT_MS = 30_000;

export function startCli(args: string[], env: NodeJS.ProcessEnv = process.env): ChildProcess {
  return spawn(process.execPath, [splitblkBin, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
}

/** Collect a started child's output and exit status. */
export function finished(child: ChildProcess, timeoutMs = CLI_TIMEOUT_MS): Promise<CliResult> {
  return new Promise((resolve) => {
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** Run `splitblk ARGS` to completion. */
export function splitblk(args: string[], env?: NodeJS.ProcessEnv): Promise<CliResult> {
  return finished(startCli(args, env));
}

/** Run `splitblk ARGS`, and fail the test with its stderr unless it exits 0. Returns stdout. */
export async function ok(t: ExecutionContext, args: string[], env?: NodeJS.ProcessEnv): Promise<string> {
  const r = await splitblk(args, env);
  t.is(r.code, 0, `splitblk ${args.join(' ')} exited ${r.code ?? r.signal}: ${r.stderr}`);
  return r.stdout;
}

/** Pids of live processes (other than this one) with the run directory in their command line. */
export function processesOf(rundir: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
    } catch {
      continue; // It exited while we looked.
    }
    if (argv.some((a) => a === rundir || a.startsWith(`${rundir}/`))) pids.push(Number(entry));
  }
  return pids;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Poll `check` until it returns true; false once `timeoutMs` has passed. */
export async function waitUntil(check: () => boolean | Promise<boolean>, timeoutMs: number, pollMs = 25): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await sleep(pollMs);
  }
  return check();
}

export interface RunDir {
  rundir: string;
  /** A scratch directory for images, removed at teardown. */
  scratch: string;
  /** `--rundir DIR`, to append to a verb's arguments. */
  flag: string[];
}

/**
 * A fresh run directory and scratch directory. Teardown runs `splitblk down`, then SIGKILLs (by
 * pid) whatever is still running on the run directory so that a failed test leaves nothing, and
 * removes both directories.
 */
export async function makeRunDir(t: ExecutionContext): Promise<RunDir> {
  const rundir = await mkdtemp('/dev/shm/sbts-');
  const scratch = await mkdtemp('/dev/shm/sbts-img-');
  t.teardown(async () => {
    if (existsSync(rundir)) await splitblk(['down', '--rundir', rundir]);
    for (const pid of processesOf(rundir)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    await rm(rundir, { recursive: true, force: true });
    await rm(scratch, { recursive: true, force: true });
  });
  return { rundir, scratch, flag: ['--rundir', rundir] };
}

/** `splitblk up --detach` on the run directory; fails the test unless it prints `ready`. */
export async function upDetached(t: ExecutionContext, dir: RunDir): Promise<void> {
  const r = await splitblk(['up', '--detach', ...dir.flag]);
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, 'ready\n');
}

/** Parse `splitblk env` output (`export K='V'` lines) into variables. */
export function parseExports(text: string): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^export ([A-Z_]+)='(.*)'$/.exec(line);
    if (m) vars[m[1]!] = m[2]!.replace(/'\\''/g, "'");
  }
  return vars;
}

/**
 * Whether a Debian tool is installed. Under CI=true a missing tool fails the test; elsewhere the
 * test logs why it skips and passes.
 */
export function needTool(t: ExecutionContext, tool: string, pkg: string): boolean {
  if (spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0) return true;
  if (process.env['CI'] === 'true') t.fail(`${tool} is missing (Debian package ${pkg}): required under CI`);
  else {
    t.log(`skipped: ${tool} is not installed (apt-get install ${pkg})`);
    t.pass();
  }
  return false;
}

/** Whether the native addon is built (every service needs it); same CI rule as needTool. */
export function needNative(t: ExecutionContext): boolean {
  if (existsSync(`${repoRoot}build/Release/splitblk.node`)) return true;
  if (process.env['CI'] === 'true') t.fail('the native addon is not built: required under CI');
  else {
    t.log('skipped: the native addon is not built (npx node-gyp rebuild)');
    t.pass();
  }
  return false;
}

/** Leftovers of a run directory after `down`: processes, and whether the directory remains. */
export function leftovers(rundir: string): { pids: number[]; rundirExists: boolean } {
  return { pids: processesOf(rundir), rundirExists: existsSync(rundir) };
}
