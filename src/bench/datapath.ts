/**
 * The data path (issue 5): a raw image in the page cache, read through the ring by a separate
 * frontend process (the C blkfront) via splitblk's backend and tapdisk's `aio` driver, against
 * fio on the same file in the same run (buffered, psync and io_uring).
 *   raw-4k-randread-qd32  4 KiB random reads, 32 in flight; reference: the better fio engine
 *   raw-64k-seqread       64 KiB sequential reads, 32 in flight (a guest's readahead keeps
 *                         several requests in flight); reference: fio psync
 *   raw-64k-seqread-qd4   the same at 4 in flight, where the backend's cost per ring wake-up
 *                         is shared by only 4 requests
 *   raw-1m-seqread        1 MiB sequential reads (256 segments: indirect descriptors), 4 in
 *                         flight (4 x 257 grants fit the backend's 1056 persistent grants);
 *                         reference: fio psync
 * The other fio engine is recorded as a second row of each workload. A full run takes the best
 * of three interleaved rounds of each side, a quick run one round.
 */
import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import { randomFillSync } from 'node:crypto';
import { join } from 'node:path';
import { Cluster } from './cluster.js';
import { durations, rounds, runCBlkfront, say, type BenchContext, type Family } from './context.js';
import { fioMissing, runFio, type FioEngine, type FioFigures } from './fio.js';
import { failedRow, row, type BenchRow } from './results.js';

const DOMID = 1;
const GUEST_MEMORY_MIB = 96;
const CHUNK_BYTES = 1024 * 1024;

interface DataCase {
  workload: string;
  rw: 'randread' | 'read';
  bs: number;
  qd: number;
  /** The engine the ratio is taken against; 'best' = whichever did better. */
  against: FioEngine | 'best';
  metric: 'IOPS' | 'MB/s';
}

const CASES: DataCase[] = [
  { workload: 'raw-4k-randread-qd32', rw: 'randread', bs: 4096, qd: 32, against: 'best', metric: 'IOPS' },
  { workload: 'raw-64k-seqread', rw: 'read', bs: 65536, qd: 32, against: 'psync', metric: 'MB/s' },
  { workload: 'raw-64k-seqread-qd4', rw: 'read', bs: 65536, qd: 4, against: 'psync', metric: 'MB/s' },
  { workload: 'raw-1m-seqread', rw: 'read', bs: 1024 * 1024, qd: 4, against: 'psync', metric: 'MB/s' },
];

/** A file of incompressible bytes (a sparse or zero file would take the kernel's zero-page
 * shortcuts), then read once so that it sits in the page cache. */
export function makeCachedImage(path: string, bytes: number): void {
  const chunk = Buffer.alloc(CHUNK_BYTES);
  const fd = openSync(path, 'w');
  try {
    for (let off = 0; off < bytes; off += CHUNK_BYTES) {
      randomFillSync(chunk);
      writeSync(fd, chunk, 0, Math.min(CHUNK_BYTES, bytes - off));
    }
  } finally {
    closeSync(fd);
  }
  warmPageCache(path);
}

export function warmPageCache(path: string): void {
  const chunk = Buffer.alloc(CHUNK_BYTES);
  const fd = openSync(path, 'r');
  try {
    while (readSync(fd, chunk, 0, CHUNK_BYTES, null) > 0) {
      // Reading is the point: the pages stay cached.
    }
  } finally {
    closeSync(fd);
  }
}

const metricOf = (c: DataCase, f: { iops: number; mbPerS: number }) => (c.metric === 'IOPS' ? f.iops : f.mbPerS);

async function runOurs(ctx: BenchContext, cluster: Cluster, devid: number, c: DataCase): Promise<FioFigures> {
  const { seconds, warmup } = durations(ctx);
  const j = await runCBlkfront(ctx, cluster, DOMID, devid, [
    'bench', '--ring-order', '4', '--queues', '1', '--qd', String(c.qd), '--bs', String(c.bs),
    ...(c.rw === 'read' ? ['--seq'] : []), '--seconds', String(seconds), '--warmup', String(warmup),
  ]);
  return { iops: j['rps'], mbPerS: j['mb-per-s'], p50Us: j['latency-p50-us'], p99Us: j['latency-p99-us'] };
}

/** The best of several rounds: the highest rates, the lowest latencies. */
function best(runs: FioFigures[]): FioFigures | undefined {
  if (runs.length === 0) return undefined;
  return {
    iops: Math.max(...runs.map((r) => r.iops)),
    mbPerS: Math.max(...runs.map((r) => r.mbPerS)),
    p50Us: Math.min(...runs.map((r) => r.p50Us)),
    p99Us: Math.min(...runs.map((r) => r.p99Us)),
  };
}

interface Side {
  name: string;
  run: () => Promise<FioFigures>;
  figures: FioFigures[];
  error?: unknown;
}

/** Rounds of fio psync, fio io_uring and splitblk, interleaved; each keeps its best round. */
async function measure(ctx: BenchContext, sides: Side[]): Promise<void> {
  for (let round = 0; round < rounds(ctx); round++) {
    for (const side of sides) {
      if (side.error !== undefined) continue;
      try {
        say(ctx, `${side.name}: round ${round + 1}`);
        side.figures.push(await side.run());
      } catch (error) {
        side.error = error;
      }
    }
  }
}

async function runCase(ctx: BenchContext, cluster: Cluster | undefined, devid: number, image: string, c: DataCase): Promise<BenchRow[]> {
  const { seconds } = durations(ctx);
  const rows: BenchRow[] = [];
  const missing = fioMissing();
  const fioSide = (engine: FioEngine): Side => ({
    name: `${c.workload}: fio ${engine}`,
    run: () => runFio({ file: image, rw: c.rw, bs: c.bs, iodepth: c.qd, engine, seconds }, ctx.env),
    figures: [],
  });
  const sides = missing === undefined ? [fioSide('psync'), fioSide('io_uring')] : [];
  const oursSide: Side = {
    name: `${c.workload}: splitblk`,
    run: () => (cluster === undefined ? Promise.reject(new Error('the splitblk services did not start')) : runOurs(ctx, cluster, devid, c)),
    figures: [],
  };
  await measure(ctx, [...sides, oursSide]);
  if (missing !== undefined) rows.push(failedRow(`${c.workload}-fio`, missing));
  const fio: Partial<Record<FioEngine, FioFigures>> = {};
  for (const [i, engine] of (['psync', 'io_uring'] as const).entries()) {
    const side = sides[i];
    if (side === undefined) continue;
    if (side.error !== undefined) rows.push(failedRow(`${c.workload}-fio-${engine}`, side.error));
    else fio[engine] = best(side.figures);
  }
  const ours = best(oursSide.figures);
  if (oursSide.error !== undefined || ours === undefined) {
    rows.push(failedRow(c.workload, oursSide.error ?? 'no figures'));
    return rows;
  }
  const engines = (['psync', 'io_uring'] as const).filter((e) => fio[e] !== undefined);
  const main: FioEngine | undefined = c.against === 'best'
    ? [...engines].sort((a, b) => metricOf(c, fio[b]!) - metricOf(c, fio[a]!))[0]
    : fio[c.against] === undefined ? undefined : c.against;
  const unit = c.metric === 'IOPS' ? 'IO/s' : 'MB/s';
  const qdNote = (e: FioEngine) => (e === 'psync' ? `fio psync (qd1 by nature), splitblk qd${c.qd}` : `fio io_uring qd${c.qd}`);
  rows.push(row(c.workload, c.metric, metricOf(c, ours), main === undefined ? null : metricOf(c, fio[main]!),
    main === undefined ? 'fio (failed)' : `fio ${main}${c.against === 'best' ? ' (best engine)' : ''}`, 'higher', unit,
    main === undefined ? undefined : qdNote(main)));
  for (const e of engines) {
    if (e !== main) rows.push(row(c.workload, `${c.metric} vs ${e}`, metricOf(c, ours), metricOf(c, fio[e]!), `fio ${e}`, 'higher', unit, qdNote(e)));
  }
  // Latency only against the engine that has as many requests in flight.
  rows.push(row(c.workload, 'latency p50', ours.p50Us, fio.io_uring?.p50Us ?? null, 'fio io_uring', 'lower', 'us', `both qd${c.qd}`));
  return rows;
}

export const dataFamily: Family = {
  name: 'data',
  summary: 'raw image in the page cache through the ring vs fio psync / io_uring on the same file',
  async run(ctx) {
    const image = join(ctx.workDir, 'raw-data.img');
    const bytes = (ctx.quick ? 256 : 1024) * 1024 * 1024;
    say(ctx, `data: writing a ${bytes / 2 ** 20} MiB image into the page cache`);
    makeCachedImage(image, bytes);
    let cluster: Cluster | undefined;
    let devid = 0;
    const rows: BenchRow[] = [];
    try {
      cluster = await Cluster.start({ selfArgv: ctx.selfArgv, env: ctx.env, name: 'sbk-bench-data' });
      await cluster.createDomain(DOMID, GUEST_MEMORY_MIB);
      devid = await cluster.attachImage(DOMID, 'xvda', 'raw', image);
    } catch (error) {
      rows.push(failedRow('raw-setup', error));
      await cluster?.close();
      cluster = undefined;
    }
    try {
      for (const c of CASES) rows.push(...(await runCase(ctx, cluster, devid, image, c)));
    } finally {
      await cluster?.close();
    }
    return rows;
  },
};
