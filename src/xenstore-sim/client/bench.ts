import type { XsClient } from './api.js';

/**
 * The xenstore benchmark workload, run through the client library so that daemons measured
 * with it pay the same client cost. Used by `splitblk bench xenstore`.
 *
 * Fairness: every daemon is measured by the same client code in the same process, and the
 * daemons are measured in interleaved rounds (round r runs each kind on every daemon, the
 * order rotated by one each round) so that a burst of load from elsewhere on the machine
 * lands on all of them alike rather than on whichever happened to run at that moment. Each
 * rate is the median over the rounds; latency percentiles pool every round's samples.
 */
export interface XsBenchOptions {
  /** Operations measured per kind (read, write, directory), per daemon and round. */
  ops: number;
  /** Requests kept in flight on the connection. */
  depth: number;
  /** Watch events timed one after another, per daemon and round. */
  watchSamples: number;
  /** Children of the node that `directory` lists. */
  children: number;
  /** Interleaved rounds; each rate reported is the median over them. */
  rounds: number;
  /**
   * Interleaved rounds run first and not measured (default 0). A freshly started Node.js
   * daemon keeps getting faster for several rounds while V8 optimizes it; these let a run
   * measure the steady state of a long-running daemon.
   */
  warmupRounds?: number;
  /** Where the workload writes; removed at the end. */
  root: string;
}

export interface XsBenchResult {
  readOpsPerSec: number;
  writeOpsPerSec: number;
  directoryOpsPerSec: number;
  watchEventsPerSec: number;
  watchLatencyUsP50: number;
  watchLatencyUsP99: number;
}

const nowNs = () => process.hrtime.bigint();

/** Run `op(i)` for i in [0, n) with `depth` in flight; returns operations per second. */
async function pipelined(n: number, depth: number, op: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const worker = async () => {
    while (next < n) await op(next++);
  };
  const start = nowNs();
  await Promise.all(Array.from({ length: Math.max(1, depth) }, worker));
  const seconds = Number(nowNs() - start) / 1e9;
  return n / seconds;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;
}

function median(values: number[]): number {
  return percentile([...values].sort((a, b) => a - b), 50);
}

/**
 * Time watch delivery: `watcher` watches a node, `writer` changes it, and each sample is the
 * time from sending the write to having both the write's reply and the event.
 */
async function watchLatency(watcher: XsClient, writer: XsClient, path: string, samples: number): Promise<{ perSec: number; us: number[] }> {
  await writer.write(path, 'start');
  const watch = await watcher.watch(path);
  const it = watch[Symbol.asyncIterator]();
  await it.next(); // the registration event
  const us: number[] = [];
  const start = nowNs();
  try {
    for (let i = 0; i < samples; i++) {
      const t0 = nowNs();
      const event = it.next();
      await writer.write(path, String(i));
      const r = await event;
      if (r.done) break;
      us.push(Number(nowNs() - t0) / 1e3);
    }
  } finally {
    await watch.close();
  }
  const seconds = Number(nowNs() - start) / 1e9;
  return { perSec: us.length / seconds, us };
}

/** One daemon under test: two connections (the second writes for the watch workload). */
interface Target {
  xs: XsClient;
  other: XsClient;
  read: number[];
  write: number[];
  directory: number[];
  watchPerSec: number[];
  watchUs: number[];
}

async function setUp(connect: () => Promise<XsClient>, opts: XsBenchOptions): Promise<Target> {
  const xs = await connect();
  const other = await connect().catch(async (error: unknown) => {
    await xs.close();
    throw error;
  });
  const target: Target = { xs, other, read: [], write: [], directory: [], watchPerSec: [], watchUs: [] };
  const { root, ops, depth, children } = opts;
  await xs.transaction(async (tx) => {
    for (let i = 0; i < children; i++) await tx.write(`${root}/dir/child-${i}`, 'x');
  });
  // Warm up both sides (JIT, allocator) before timing anything.
  await pipelined(Math.min(ops, 500), depth, (i) => xs.write(`${root}/k${i % 100}`, `w${i}`));
  await pipelined(Math.min(ops, 500), depth, (i) => xs.read(`${root}/k${i % 100}`));
  await pipelined(Math.min(ops, 500), depth, () => xs.directory(`${root}/dir`));
  await watchLatency(xs, other, `${root}/w`, Math.min(opts.watchSamples, 100));
  return target;
}

async function tearDown(target: Target, root: string): Promise<void> {
  await target.xs.rm(root).catch(() => undefined);
  await target.xs.close();
  await target.other.close();
}

/** One round of every kind on one daemon. */
async function round(t: Target, opts: XsBenchOptions): Promise<void> {
  const { root, ops, depth } = opts;
  t.write.push(await pipelined(ops, depth, (i) => t.xs.write(`${root}/k${i % 100}`, `value-${i}`)));
  t.read.push(await pipelined(ops, depth, (i) => t.xs.read(`${root}/k${i % 100}`)));
  t.directory.push(await pipelined(ops, depth, () => t.xs.directory(`${root}/dir`)));
  const watch = await watchLatency(t.xs, t.other, `${root}/w`, opts.watchSamples);
  t.watchPerSec.push(watch.perSec);
  t.watchUs.push(...watch.us);
}

function discardMeasurements(t: Target): void {
  for (const list of [t.read, t.write, t.directory, t.watchPerSec, t.watchUs]) list.length = 0;
}

function summarize(t: Target): XsBenchResult {
  const us = [...t.watchUs].sort((a, b) => a - b);
  return {
    readOpsPerSec: median(t.read),
    writeOpsPerSec: median(t.write),
    directoryOpsPerSec: median(t.directory),
    watchEventsPerSec: median(t.watchPerSec),
    watchLatencyUsP50: percentile(us, 50),
    watchLatencyUsP99: percentile(us, 99),
  };
}

/**
 * Measure every daemon reachable through `connects` (one result each, in the same order),
 * interleaving them round by round.
 */
export async function benchXenstore(connects: (() => Promise<XsClient>)[], opts: XsBenchOptions): Promise<XsBenchResult[]> {
  const targets: Target[] = [];
  try {
    for (const connect of connects) targets.push(await setUp(connect, opts));
    for (let r = 0; r < (opts.warmupRounds ?? 0); r++) {
      for (let k = 0; k < targets.length; k++) await round(targets[(r + k) % targets.length]!, opts);
    }
    for (const t of targets) discardMeasurements(t);
    for (let r = 0; r < Math.max(1, opts.rounds); r++) {
      for (let k = 0; k < targets.length; k++) await round(targets[(r + k) % targets.length]!, opts);
    }
    return targets.map(summarize);
  } finally {
    for (const t of targets) await tearDown(t, opts.root);
  }
}
