/**
 * The xenstore daemons the tests talk to, each a separate process on a unix socket in a short
 * per-daemon directory: ours (`splitblk xenstored`) and the real C xenstored 4.17 through the
 * oracle script. Every test folder under test/xenstore-sim starts them through this file.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { stopChild } from '../../../src/util/child.js';
import { C_XENSTORED, ORACLE_SCRIPT, onPath } from './tools.js';

const SPLITBLK = fileURLToPath(new URL('../../../../bin/splitblk.js', import.meta.url));
/** Our daemon is up in well under a second; the oracle also builds its fake-hypervisor shim. */
const SIM_START_MS_MAX = 5000;
const ORACLE_START_MS_MAX = 10_000;
const SOCKET_POLL_MS = 10;

/** A running daemon on a unix socket, cleaned up by stop(). */
export interface Daemon {
  kind: 'sim' | 'c';
  dir: string;
  socket: string;
  process: ChildProcess;
  /** What the daemon wrote to stderr so far (shown when it fails to start). */
  stderr(): string;
  stop(): Promise<void>;
}

/** A short temp dir: unix socket paths must fit in 108 bytes. */
export function shortTempDir(prefix: string): string {
  return mkdtempSync(`/tmp/${prefix}`);
}

/** Daemons still running, killed if the worker exits without stopping them (a timed-out test). */
const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

async function waitForSocket(path: string, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(path)) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`daemon exited before creating ${path}`);
    if (Date.now() > deadline) throw new Error(`no socket at ${path} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, SOCKET_POLL_MS));
  }
}

async function startDaemon(kind: Daemon['kind'], dir: string, argv: string[], startMsMax: number): Promise<Daemon> {
  const socket = `${dir}/socket`;
  const [cmd, ...args] = argv;
  const child = spawn(cmd!, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  running.add(child);
  child.once('exit', () => running.delete(child));
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const stop = async (): Promise<void> => {
    await stopChild(child);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitForSocket(socket, child, startMsMax);
  } catch (error) {
    await stop();
    throw new Error(`${(error as Error).message}\n${stderr}`);
  }
  return { kind, dir, socket, process: child, stderr: () => stderr, stop };
}

/**
 * Our daemon, as a separate process through the CLI: `splitblk xenstored --socket DIR/socket`,
 * without the start-up warm-up (it only makes the daemon faster; tests want it up at once).
 */
export function startSim(extraArgs: string[] = []): Promise<Daemon> {
  const dir = shortTempDir('xss.');
  return startDaemon('sim', dir, [process.execPath, SPLITBLK, 'xenstored', '--socket', `${dir}/socket`, '--warm-up-ms', '0', ...extraArgs], SIM_START_MS_MAX);
}

/** The real C xenstored 4.17, through the oracle script (needs gcc and xen-utils-4.17). */
export function startOracle(extraArgs: string[] = []): Promise<Daemon> {
  const dir = shortTempDir('xso.');
  return startDaemon('c', dir, ['sh', ORACLE_SCRIPT, 'c', dir, ...extraArgs], ORACLE_START_MS_MAX);
}

export const oracleAvailable = (): boolean => existsSync(ORACLE_SCRIPT) && existsSync(C_XENSTORED) && existsSync(onPath('gcc'));
