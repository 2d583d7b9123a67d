/**
 * The benchmark run: build the C programs once, run the chosen workload families one after
 * another (never two at once: they would measure each other), collect their rows, write
 * bench/results.json and bench/results.md. A family that throws is recorded as a failed row;
 * the files are written whatever happened.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import type { BenchContext, Family } from './context.js';
import { buildCBlkfront, buildRingRef, cToolchainMissing, repoRoot } from './cprograms.js';
import { dataFamily } from './datapath.js';
import { failedRow, markdownTable, writeResults, type BenchRow } from './results.js';
import { ringFamily } from './ring.js';
import { vhdFamily } from './vhd.js';

export const FAMILIES: readonly Family[] = [ringFamily, dataFamily, vhdFamily];

export interface BenchOptions {
  families: readonly Family[];
  quick: boolean;
  selfArgv: string[];
  env: NodeJS.ProcessEnv;
  progress: Writable;
  /** Where results.json and results.md go (default: <repo>/bench). */
  outDir?: string;
}

export interface BenchRun {
  rows: BenchRow[];
  table: string;
  files: { json: string; md: string };
}

function build<T>(what: () => T): { path: T } | { missing: string } {
  const missing = cToolchainMissing();
  if (missing !== undefined) return { missing };
  try {
    return { path: what() };
  } catch (error) {
    return { missing: (error as Error).message };
  }
}

export async function runBench(opts: BenchOptions): Promise<BenchRun> {
  // Made (or found unusable) before the minutes of measuring, not after them.
  const outDir = opts.outDir ?? join(repoRoot(), 'bench');
  mkdirSync(outDir, { recursive: true });
  const workDir = mkdtempSync(join(tmpdir(), 'splitblk-bench-'));
  const started = Date.now();
  const rows: BenchRow[] = [];
  try {
    const ctx: BenchContext = {
      selfArgv: opts.selfArgv,
      env: opts.env,
      quick: opts.quick,
      workDir,
      cBlkfront: build(() => buildCBlkfront(workDir)) as BenchContext['cBlkfront'],
      ringRef: build(() => buildRingRef(workDir)) as BenchContext['ringRef'],
      progress: opts.progress,
    };
    for (const family of opts.families) {
      try {
        rows.push(...(await family.run(ctx)));
      } catch (error) {
        rows.push(failedRow(family.name, error));
      }
    }
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
  const cpu = cpus();
  const header = [
    `# splitblk benchmark results`,
    '',
    `${new Date().toISOString()}, ${opts.quick ? '--quick' : 'full'} run of ${opts.families.map((f) => f.name).join(', ')} in ${Math.round((Date.now() - started) / 1000)} s; ` +
      `${cpu.length} CPU(s) (${cpu[0]?.model.trim() ?? 'unknown'}), node ${process.version}.`,
    'ratio = splitblk ÷ reference; `better` says which direction is good. See docs/benchmarks.md.',
  ].join('\n');
  const files = writeResults(outDir, rows, header);
  return { rows, table: markdownTable(rows, header), files };
}
