/**
 * What every workload family gets from the harness: how to run splitblk itself, the run length
 * (--quick or full), a scratch directory, the C programs built once for the whole run, and a
 * progress line writer (stderr). A family returns rows and never throws for one workload's
 * failure: it records it (results.ts failedRow) and goes on.
 */
import type { Writable } from 'node:stream';
import type { BenchRow } from './results.js';
import { Cluster } from './cluster.js';
import { runProgram, type ProgramResult } from './cprograms.js';

export interface BenchContext {
  selfArgv: string[];
  env: NodeJS.ProcessEnv;
  quick: boolean;
  /** Scratch directory on disk (images, binaries), removed after the run. */
  workDir: string;
  /** The C blkfront binary, or why it could not be built. */
  cBlkfront: { path: string } | { missing: string };
  /** bench/c/ring-ref, or why it could not be built. */
  ringRef: { path: string } | { missing: string };
  progress: Writable;
}

export interface Family {
  name: string;
  summary: string;
  run(ctx: BenchContext): Promise<BenchRow[]>;
}

/** Seconds of one measurement and of its warm-up. */
export function durations(ctx: BenchContext): { seconds: number; warmup: number } {
  return ctx.quick ? { seconds: 1, warmup: 0.3 } : { seconds: 5, warmup: 1 };
}

/** Rounds of a comparison whose best figure is kept (full runs repeat to beat noise). */
export function rounds(ctx: BenchContext): number {
  return ctx.quick ? 1 : 3;
}

export function say(ctx: BenchContext, line: string): void {
  ctx.progress.write(`bench: ${line}\n`);
}

const PROGRAM_TIMEOUT_MS = 120_000;

/** Run the C blkfront as domain `domid` on `devid`; throws with its stderr unless it exits 0. */
export async function runCBlkfront(ctx: BenchContext, cluster: Cluster, domid: number, devid: number, args: string[]): Promise<Record<string, any>> {
  if ('missing' in ctx.cBlkfront) throw new Error(`the C blkfront cannot be built: ${ctx.cBlkfront.missing}`);
  const result = await runProgram(ctx.cBlkfront.path, [cluster.rundir, String(domid), String(devid), ...args], PROGRAM_TIMEOUT_MS, ctx.env);
  return checked('C blkfront', result);
}

/** Run `splitblk frontend` (the TypeScript blkfront) with --output=json. */
export async function runTsFrontend(ctx: BenchContext, cluster: Cluster, domid: number, vdev: string, args: string[]): Promise<Record<string, any>> {
  const [node, ...self] = ctx.selfArgv;
  const result = await runProgram(node!, [...self, 'frontend', String(domid), vdev, '--rundir', cluster.rundir, '--output=json', ...args], PROGRAM_TIMEOUT_MS, ctx.env);
  return checked('splitblk frontend', result);
}

function checked(what: string, result: ProgramResult): Record<string, any> {
  if (result.code !== 0 || result.json === undefined) {
    const why = (result.json?.['error'] as string | undefined) ?? result.stderr.trim().split('\n').slice(-3).join(' | ');
    throw new Error(`${what} exited ${result.code ?? 'on a signal'}: ${why || 'no output'}`);
  }
  return result.json;
}

/** Virtual device names for successive attachments: xvda, xvdb, ... (one fresh device per run). */
export function vdevName(i: number): string {
  return `xvd${String.fromCharCode(97 + (i % 26))}`;
}
