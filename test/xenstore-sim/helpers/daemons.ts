import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { C_XENSTORED, ORACLE_SCRIPT } from './tools.js';

const SPLITBLK = fileURLToPath(new URL('../../../../bin/splitblk.js', import.meta.url));

/** A running daemon on a unix socket, cleaned up by stop(). */
export interface Daemon {
  kind: 'sim' | 'c';
  dir: string;
  socket: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

/** A short temp dir: unix socket paths must fit in 108 bytes. */
export function shortTempDir(prefix: string): string {
  return mkdtempSync(`/tmp/${prefix}`);
}

async function waitForSocket(path: string, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(path)) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`daemon exited before creating ${path}`);
    if (Date.now() > deadline) throw new Error(`no socket at ${path} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function stopper(child: ChildProcess, dir: string): () => Promise<void> {
  return async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
}

/** Our daemon, as a separate process through the CLI. */
export async function startSim(extraArgs: string[] = []): Promise<Daemon> {
  const dir = shortTempDir('xss.');
  const socket = `${dir}/socket`;
  const child = spawn(process.execPath, [SPLITBLK, 'xenstored', '--socket', socket, ...extraArgs], { stdio: ['ignore', 'ignore', 'inherit'] });
  await waitForSocket(socket, child, 5000);
  return { kind: 'sim', dir, socket, process: child, stop: stopper(child, dir) };
}

/** The real C xenstored 4.17, through the oracle script (needs gcc and xen-utils-4.17). */
export async function startOracle(extraArgs: string[] = []): Promise<Daemon> {
  const dir = shortTempDir('xso.');
  const socket = `${dir}/socket`;
  const child = spawn('sh', [ORACLE_SCRIPT, 'c', dir, ...extraArgs], { stdio: ['ignore', 'ignore', 'ignore'] });
  await waitForSocket(socket, child, 10000);
  return { kind: 'c', dir, socket, process: child, stop: stopper(child, dir) };
}

export const oracleAvailable = (): boolean => existsSync(ORACLE_SCRIPT) && existsSync(C_XENSTORED);
