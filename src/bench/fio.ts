/**
 * fio as a reference: one job on a file, buffered (page cache), time-based, JSON output; the
 * read side's IOPS, bandwidth and completion-latency percentiles.
 */
import { spawnSync } from 'node:child_process';
import { runProgram } from './cprograms.js';

export type FioEngine = 'psync' | 'io_uring';

export interface FioJob {
  file: string;
  rw: 'read' | 'randread' | 'write' | 'randwrite';
  bs: number;
  iodepth: number;
  engine: FioEngine;
  seconds: number;
  /** Stop after this many bytes instead of running for `seconds`. */
  bytes?: number;
}

export interface FioFigures {
  iops: number;
  mbPerS: number;
  p50Us: number;
  p99Us: number;
}

export function fioMissing(): string | undefined {
  const r = spawnSync('fio', ['--version']);
  return r.error !== undefined || r.status !== 0 ? 'fio is not installed' : undefined;
}

/** fio's --iomem_align: the page size. */
const FIO_BUFFER_ALIGN_BYTES = 4096;

export async function runFio(job: FioJob, env: NodeJS.ProcessEnv): Promise<FioFigures> {
  const args = [
    '--name=splitblk-ref', `--filename=${job.file}`, `--rw=${job.rw}`, `--bs=${job.bs}`, `--ioengine=${job.engine}`,
    `--iodepth=${job.engine === 'psync' ? 1 : job.iodepth}`, '--direct=0', '--invalidate=0', '--output-format=json',
    // Page-aligned buffers, like the guest pages splitblk reads into: fio's default buffer sits
    // 16 bytes past a page boundary, where the kernel's copy out of the page cache is several
    // times slower on some CPUs, which would flatter our ratios.
    `--iomem_align=${FIO_BUFFER_ALIGN_BYTES}`,
  ];
  if (job.bytes === undefined) args.push(`--runtime=${job.seconds}`, '--time_based');
  else args.push(`--size=${job.bytes}`);
  const result = await runProgram('fio', args, 120_000, env);
  const json = parseFioJson(result.stdout);
  if (result.code !== 0 || json === undefined) throw new Error(`fio ${job.engine} exited ${result.code}: ${result.stderr.trim().slice(0, 300)}`);
  const side = job.rw.includes('read') ? json.read : json.write;
  const pct = side.clat_ns.percentile ?? {};
  return {
    iops: side.iops,
    mbPerS: side.bw_bytes / 1e6,
    p50Us: (pct['50.000000'] ?? 0) / 1e3,
    p99Us: (pct['99.000000'] ?? 0) / 1e3,
  };
}

interface FioSide {
  iops: number;
  bw_bytes: number;
  clat_ns: { percentile?: Record<string, number> };
}

/** fio may print warnings before its JSON: parse from the first '{'. */
function parseFioJson(stdout: string): { read: FioSide; write: FioSide } | undefined {
  const start = stdout.indexOf('{');
  if (start < 0) return undefined;
  try {
    const parsed = JSON.parse(stdout.slice(start)) as { jobs: { read: FioSide; write: FioSide }[] };
    return parsed.jobs[0];
  } catch {
    return undefined;
  }
}
