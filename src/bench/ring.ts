/**
 * The ring alone (issue 7): how fast requests cross the shared ring and come back when the disk
 * does nothing. Three implementations, side by side, on the same configurations:
 *   reference  bench/c/ring-ref: a C frontend and a C null backend, two processes over the
 *              real <xen/io/ring.h> macros, waking each other through pipes (no data, no grants);
 *   splitblk   the C blkfront (test/c/blkfront) in bench mode driving splitblk's backend
 *              process with a tapdisk `null:?read-zeroes=off` disk, which like the reference's
 *              backend touches no data: 4 KiB READs, one segment, persistent grants;
 *   zero-fill  the same with a `null:` disk that reads zeros (a 4 KiB fill into guest memory per
 *              request), recorded as extra rows (`<workload>-zero-fill`) so that cost stays seen;
 *   tsfront    the TypeScript frontend (`splitblk frontend --rw randread --bs 4k`) against the
 *              no-data backend, recorded as extra rows (`<workload>-tsfront`).
 * Configurations: one-page ring at qd1 and qd32, order-3 ring at qd256, one queue. A full run
 * takes the best of three interleaved rounds for each implementation, a quick run one round.
 */
import { Cluster } from './cluster.js';
import { durations, rounds, runCBlkfront, runTsFrontend, say, vdevName, type BenchContext, type Family } from './context.js';
import { runProgram } from './cprograms.js';
import { attachNullDisk } from './null-disk.js';
import { failedRow, row, type BenchRow } from './results.js';

const DOMID = 1;
const GUEST_MEMORY_MIB = 64;
const NULL_DISK_BYTES = 1024 ** 3;
const REF_NAME = 'C ring-ref';

interface RingCase {
  workload: string;
  order: number;
  qd: number;
}

const CASES: RingCase[] = [
  { workload: 'ring-1page-qd1', order: 0, qd: 1 },
  { workload: 'ring-1page-qd32', order: 0, qd: 32 },
  { workload: 'ring-order3-qd256', order: 3, qd: 256 },
];

/** The figures one implementation gave for one case. */
interface RingFigures {
  rps: number;
  notificationsPerRequest: number;
  p50Us: number;
  p99Us: number;
}

async function runReference(ctx: BenchContext, c: RingCase): Promise<RingFigures> {
  if ('missing' in ctx.ringRef) throw new Error(`ring-ref cannot be built: ${ctx.ringRef.missing}`);
  const { seconds } = durations(ctx);
  const result = await runProgram(ctx.ringRef.path, [String(c.order), String(c.qd), String(seconds)], 60_000, ctx.env);
  const j = result.json;
  if (result.code !== 0 || j === undefined) throw new Error(`ring-ref exited ${result.code}: ${result.stderr.trim()}`);
  return { rps: j['rps'] as number, notificationsPerRequest: j['notifications-per-request'] as number, p50Us: j['latency-p50-us'] as number, p99Us: j['latency-p99-us'] as number };
}

/** `readZeroes` false: a null disk whose reads touch no guest memory, as the reference's. */
function attachNull(cluster: Cluster, vdev: string, readZeroes: boolean): Promise<number> {
  return attachNullDisk(cluster.toolstack.xs, DOMID, vdev, NULL_DISK_BYTES, { readZeroes });
}

async function runCFront(ctx: BenchContext, cluster: Cluster, c: RingCase, vdev: string, readZeroes: boolean): Promise<RingFigures> {
  const { seconds, warmup } = durations(ctx);
  const devid = await attachNull(cluster, vdev, readZeroes);
  try {
    const j = await runCBlkfront(ctx, cluster, DOMID, devid, [
      'bench', '--ring-order', String(c.order), '--queues', '1', '--qd', String(c.qd), '--bs', '4096',
      '--seconds', String(seconds), '--warmup', String(warmup),
    ]);
    return { rps: j['rps'], notificationsPerRequest: j['notifications-per-request'], p50Us: j['latency-p50-us'], p99Us: j['latency-p99-us'] };
  } finally {
    await cluster.detach(DOMID, vdev).catch(() => undefined);
  }
}

async function runTsFront(ctx: BenchContext, cluster: Cluster, c: RingCase, vdev: string): Promise<RingFigures> {
  const { seconds } = durations(ctx);
  await attachNull(cluster, vdev, false);
  try {
    const j = await runTsFrontend(ctx, cluster, DOMID, vdev, [
      '--rw', 'randread', '--bs', '4k', '--iodepth', String(c.qd), '--runtime', String(seconds),
      '--ring-order', String(c.order), '--queues', '1',
    ]);
    const ring = j['ring'];
    const requests = Math.max(1, ring['requests'] as number);
    return {
      rps: j['iops'],
      notificationsPerRequest: ((ring['notifications-sent'] as number) + (ring['events'] as number)) / requests,
      p50Us: j['latency']['p50-us'],
      p99Us: j['latency']['p99-us'],
    };
  } finally {
    await cluster.detach(DOMID, vdev).catch(() => undefined);
  }
}

function rowsFor(workload: string, c: RingCase, ours: RingFigures, ref: RingFigures | undefined, note?: string): BenchRow[] {
  const rows = [
    row(workload, 'requests/s', ours.rps, ref?.rps ?? null, REF_NAME, 'higher', 'req/s', note),
    row(workload, 'notifications/request', ours.notificationsPerRequest, ref?.notificationsPerRequest ?? null, REF_NAME, 'lower', 'per req', note),
  ];
  if (c.qd === 1) {
    const suffix = workload.slice(c.workload.length);
    rows.push(row(`ring-qd1-latency-p50${suffix}`, 'latency p50', ours.p50Us, ref?.p50Us ?? null, REF_NAME, 'lower', 'us', note));
    rows.push(row(`ring-qd1-latency-p99${suffix}`, 'latency p99', ours.p99Us, ref?.p99Us ?? null, REF_NAME, 'lower', 'us', note));
  }
  return rows;
}

/** The best of several rounds: the highest rate, the lowest latencies and notification counts. */
function best(runs: RingFigures[]): RingFigures | undefined {
  if (runs.length === 0) return undefined;
  return {
    rps: Math.max(...runs.map((r) => r.rps)),
    notificationsPerRequest: Math.min(...runs.map((r) => r.notificationsPerRequest)),
    p50Us: Math.min(...runs.map((r) => r.p50Us)),
    p99Us: Math.min(...runs.map((r) => r.p99Us)),
  };
}

/** Rounds of reference, C frontend (no-data disk, then zero-filling disk), TS frontend,
 * interleaved so that all of them see the same machine; each keeps its best round. */
async function runCase(ctx: BenchContext, cluster: Cluster | undefined, clusterError: unknown, c: RingCase, vdevs: () => string): Promise<BenchRow[]> {
  const variants: { workload: string; run: () => Promise<RingFigures>; note?: string; figures: RingFigures[]; error?: unknown }[] = [
    { workload: `${c.workload}-reference`, run: () => runReference(ctx, c), figures: [] },
    { workload: c.workload, run: () => runCFront(ctx, cluster!, c, vdevs(), false), note: 'null disk, read-zeroes=off: no data touched, as the reference', figures: [] },
    { workload: `${c.workload}-zero-fill`, run: () => runCFront(ctx, cluster!, c, vdevs(), true), note: 'null disk reading zeros: a 4 KiB fill into guest memory per request', figures: [] },
    { workload: `${c.workload}-tsfront`, run: () => runTsFront(ctx, cluster!, c, vdevs()), note: 'TypeScript frontend, no warm-up; read-zeroes=off', figures: [] },
  ];
  for (let round = 0; round < rounds(ctx); round++) {
    for (const v of variants) {
      if (v.error !== undefined) continue;
      try {
        if (v !== variants[0] && cluster === undefined) throw clusterError;
        say(ctx, `${v.workload}: round ${round + 1}`);
        v.figures.push(await v.run());
      } catch (error) {
        v.error = error;
      }
    }
  }
  const [refVariant, ...ours] = variants;
  const ref = best(refVariant!.figures);
  const rows: BenchRow[] = [];
  if (refVariant!.error !== undefined) rows.push(failedRow(refVariant!.workload, refVariant!.error));
  for (const v of ours) {
    const figures = best(v.figures);
    if (v.error !== undefined || figures === undefined) rows.push(failedRow(v.workload, v.error ?? 'no figures'));
    else rows.push(...rowsFor(v.workload, c, figures, ref, v.note));
  }
  return rows;
}

export const ringFamily: Family = {
  name: 'ring',
  summary: 'the shared ring with a null disk: C reference vs C blkfront + splitblk backend vs TS frontend',
  async run(ctx) {
    let cluster: Cluster | undefined;
    let clusterError: unknown;
    try {
      cluster = await Cluster.start({ selfArgv: ctx.selfArgv, env: ctx.env, name: 'sbk-bench-ring' });
      await cluster.createDomain(DOMID, GUEST_MEMORY_MIB);
    } catch (error) {
      clusterError = error;
      await cluster?.close();
      cluster = undefined;
    }
    let next = 0;
    const vdevs = () => vdevName(next++);
    const rows: BenchRow[] = [];
    try {
      for (const c of CASES) rows.push(...(await runCase(ctx, cluster, clusterError, c, vdevs)));
    } finally {
      await cluster?.close();
    }
    return rows;
  },
};
