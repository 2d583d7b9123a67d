import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

/** build/test/native/fixtures/child.js, next to this file once compiled. */
export const childScript = fileURLToPath(new URL('./fixtures/child.js', import.meta.url));

export interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Each stdout line parsed as JSON. */
  lines: unknown[];
  stderr: string;
}

export interface Child {
  /** Resolves with the first stdout line. */
  firstLine: Promise<unknown>;
  done: Promise<ChildResult>;
  kill(): void;
}

/**
 * Runs `node [nodeArgs] child.js verb ...args`. With `noCoreDump`, through a shell that sets
 * RLIMIT_CORE to 0 first: for children that are expected to die of a signal.
 */
export function startChild(verb: string, args: string[], nodeArgs: string[] = [], noCoreDump = false): Child {
  const argv = [...nodeArgs, childScript, verb, ...args];
  const child = noCoreDump
    ? spawn('/bin/sh', ['-c', 'ulimit -c 0 && exec "$0" "$@"', process.execPath, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let resolveFirst: (value: unknown) => void = () => {};
  const firstLine = new Promise<unknown>((resolve) => (resolveFirst = resolve));
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    const newline = stdout.indexOf('\n');
    if (newline >= 0) resolveFirst(JSON.parse(stdout.slice(0, newline)));
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const done = new Promise<ChildResult>((resolve) => {
    child.on('close', (code, signal) => {
      const lines = stdout.split('\n').filter((line) => line !== '').map((line) => JSON.parse(line) as unknown);
      resolveFirst(lines[0]);
      resolve({ code, signal, lines, stderr });
    });
  });
  return { firstLine, done, kill: () => child.kill('SIGKILL') };
}

export function runChild(verb: string, args: string[], nodeArgs: string[] = [], noCoreDump = false): Promise<ChildResult> {
  return startChild(verb, args, nodeArgs, noCoreDump).done;
}

/** A fresh directory on tmpfs (or the OS temp dir); removed by the returned cleanup. */
export function tempDir(prefix: string): { dir: string; cleanup: () => void } {
  const base = fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();
  const dir = fs.mkdtempSync(path.join(base, `splitblk-${prefix}-`));
  return { dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}
