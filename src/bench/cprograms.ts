/**
 * The C programs of the benchmarks and of the C-guest tests, compiled at run time with gcc
 * against the installed Xen headers (gcc -Wall -Wextra -Werror): the C blkfront
 * (test/c/blkfront over the guest library test/c/guest) and the ring reference
 * (bench/c/ring-ref.c). Also runs a program and parses the one JSON object it prints.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root, from build/src/bench/x.js or src/bench/x.ts. */
export function repoRoot(): string {
  let dir = fileURLToPath(new URL('.', import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) dir = join(dir, '..');
  return dir;
}

/** Why C programs cannot be built here, or undefined when gcc and the Xen headers are present. */
export function cToolchainMissing(): string | undefined {
  const gcc = spawnSync('gcc', ['--version']);
  if (gcc.error !== undefined || gcc.status !== 0) return 'gcc is not installed';
  if (!existsSync('/usr/include/xen/io/blkif.h')) return 'the Xen headers (libxen-dev) are not installed';
  return undefined;
}

function gcc(sources: string[], includes: string[], output: string): void {
  const args = ['-Wall', '-Wextra', '-Werror', '-std=c11', '-O2', ...includes.map((d) => `-I${d}`), '-o', output, ...sources];
  const result = spawnSync('gcc', args, { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`gcc ${output} failed:\n${result.stderr || result.error?.message}`);
}

/** Build the C blkfront into `dir`; returns the binary's path. */
export function buildCBlkfront(dir: string): string {
  const root = repoRoot();
  const front = join(root, 'test/c/blkfront');
  const guest = join(root, 'test/c/guest');
  const output = join(dir, 'blkfront');
  const sources = ['blkfront.c', 'xenbus.c', 'io.c', 'pattern.c'].map((f) => join(front, f));
  sources.push(join(guest, 'splitblk-guest.c'), join(guest, 'splitblk-guest-xs.c'));
  gcc(sources, [front, guest, join(root, 'bench/c')], output);
  return output;
}

/** Build bench/c/ring-ref.c into `dir`; returns the binary's path. */
export function buildRingRef(dir: string): string {
  const root = repoRoot();
  const output = join(dir, 'ring-ref');
  gcc([join(root, 'bench/c/ring-ref.c')], [join(root, 'bench/c')], output);
  return output;
}

export interface ProgramResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** The last line of stdout that parses as a JSON object, if any. */
  json: Record<string, unknown> | undefined;
}

/** Run a program to completion (killed after `timeoutMs`) and collect its output. */
export function runProgram(cmd: string, args: string[], timeoutMs: number, env: NodeJS.ProcessEnv): Promise<ProgramResult> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: signal === null ? code : null, stdout, stderr: signal === null ? stderr : `${stderr}\nkilled by ${signal}`, json: lastJson(stdout) });
    });
  });
}

function lastJson(text: string): Record<string, unknown> | undefined {
  const lines = text.trim().split('\n').reverse();
  for (const line of lines) {
    if (!line.startsWith('{')) continue;
    try {
      return JSON.parse(line) as Record<string, unknown>;
    } catch {
      continue;
    }
  }
  return undefined;
}
