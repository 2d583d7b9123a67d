/** Running `splitblk` verbs as their own processes, for the live-operation tests. */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { repoRoot } from '../helpers/repo.js';

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

const bin = () => `${repoRoot()}/bin/splitblk.js`;

/** Start `splitblk ARGS`; `done` resolves when it exits (killed after `timeoutMs`). */
export function start(args: string[], timeoutMs = 60_000): { child: ChildProcess; done: Promise<Run> } {
  const child = spawn(process.execPath, [bin(), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<Run>((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
  return { child, done };
}

export function run(args: string[], timeoutMs = 60_000): Promise<Run> {
  return start(args, timeoutMs).done;
}

/** Whether a Debian tool is on PATH. */
export function haveTool(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`]).status === 0;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
