import type { XsClient } from './api.js';

/**
 * The xenstore benchmark workload, run through the client library so that two daemons
 * measured with it pay the same client cost. Used by `splitblk bench xenstore`.
 */
export interface XsBenchOptions {
  /** Operations measured per kind (read, write, directory). */
  ops: number;
  /** Requests kept in flight on the connection. */
  depth: number;
  /** Watch events timed one after another. */
  watchSamples: number;
  /** Children of the node that `directory` lists. */
  children: number;
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

/**
 * Time watch delivery: `watcher` watches a node, `writer` changes it, and each sample is the
 * time from sending the write to receiving the event.
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
  return { perSec: us.length / seconds, us: us.sort((a, b) => a - b) };
}

export async function benchXenstore(connect: () => Promise<XsClient>, opts: XsBenchOptions): Promise<XsBenchResult> {
  const xs = await connect();
  const other = await connect();
  const { root, ops, depth, children } = opts;
  try {
    await xs.transaction(async (tx) => {
      for (let i = 0; i < children; i++) await tx.write(`${root}/dir/child-${i}`, 'x');
    });
    // Warm up both sides (JIT, allocator) before timing anything.
    await pipelined(Math.min(ops, 500), depth, (i) => xs.write(`${root}/k${i % 100}`, `w${i}`));
    const writeOpsPerSec = await pipelined(ops, depth, (i) => xs.write(`${root}/k${i % 100}`, `value-${i}`));
    const readOpsPerSec = await pipelined(ops, depth, (i) => xs.read(`${root}/k${i % 100}`));
    const directoryOpsPerSec = await pipelined(ops, depth, () => xs.directory(`${root}/dir`));
    await watchLatency(xs, other, `${root}/w`, Math.min(opts.watchSamples, 100));
    const watch = await watchLatency(xs, other, `${root}/w`, opts.watchSamples);
    return {
      readOpsPerSec,
      writeOpsPerSec,
      directoryOpsPerSec,
      watchEventsPerSec: watch.perSec,
      watchLatencyUsP50: percentile(watch.us, 50),
      watchLatencyUsP99: percentile(watch.us, 99),
    };
  } finally {
    await xs.rm(root).catch(() => undefined);
    await xs.close();
    await other.close();
  }
}
