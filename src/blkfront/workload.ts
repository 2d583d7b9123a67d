/**
 * fio-like workloads over a connected blkfront: sequential or random reads, writes or a mix,
 * fixed block size, a queue depth, bounded by runtime or size, with optional verification
 * (verify.ts) and a final read-back of everything written.
 *
 * The engine is callback-driven and reuses its slots: a completion records its latency, checks
 * what it read, and issues the next request on the same slot, so a running workload allocates
 * nothing per I/O.
 */
import { BLKIF_SECTOR_BYTES } from '../blkback/protocol/ops.js';
import { SplitblkError } from '../util/errors.js';
import type { BlkfrontDataPath } from './device.js';
import { LatencyHistogram } from './histogram.js';
import type { IoSlot } from './slot.js';
import { checkSectors, stampSectors, VerifyReport } from './verify.js';

export const RW_MODES = ['read', 'write', 'randread', 'randwrite', 'randrw'] as const;
export type RwMode = (typeof RW_MODES)[number];

export const BLKFRONT_WORKLOAD_ERROR = 'SPLITBLK_ERR_BLKFRONT_WORKLOAD';

/** Blocks tracked for verification at most (the generation map is 4 bytes per block). */
export const VERIFY_BLOCKS_MAX = 1 << 24;
/** A workload with no completion for this long is stopped (a backend that stopped answering). */
export const STALL_TIMEOUT_MS = 30_000;

export interface WorkloadOptions {
  rw: RwMode;
  /** Block size in bytes, a multiple of 512. */
  bs: number;
  iodepth: number;
  /** Stop issuing after this long. Without it, one pass over `sizeBytes` (or the disk). */
  runtimeMs?: number;
  /** The region used, from sector 0 (default: the whole disk). */
  sizeBytes?: number;
  verify?: boolean;
  /** Percentage of reads in randrw (default 50). */
  rwmixread?: number;
  /** Seed of the offset and mix generator (printed in reports so runs can be replayed). */
  seed?: number;
  stallTimeoutMs?: number;
  /** Stop issuing when aborted (Ctrl-C): requests in flight complete and the result is reported. */
  signal?: AbortSignal;
}

export interface LatencySummary {
  p50Us: number;
  p99Us: number;
  p999Us: number;
  meanUs: number;
  maxUs: number;
}

export interface WorkloadResult {
  rw: RwMode;
  bs: number;
  iodepth: number;
  seed: number;
  ios: number;
  reads: number;
  writes: number;
  bytesRead: number;
  bytesWritten: number;
  seconds: number;
  iops: number;
  mbPerS: number;
  latency: LatencySummary;
  /** Requests that completed with an error status (the run stops at the first). */
  errors: number;
  firstError: string | undefined;
  /** The run was stopped early by its AbortSignal. */
  interrupted: boolean;
  verify: VerifyReport | undefined;
}

const isRandom = (rw: RwMode) => rw.startsWith('rand');

/** xorshift32: a seeded, allocation-free generator for offsets and the read/write mix. */
class Rng {
  private x: number;
  constructor(seed: number) {
    this.x = seed >>> 0 || 0x9e3779b9;
  }
  next(): number {
    let x = this.x;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.x = x >>> 0;
    return this.x / 4294967296;
  }
}

function summarize(h: LatencyHistogram): LatencySummary {
  const us = (ns: number) => Math.round(ns / 100) / 10;
  return { p50Us: us(h.percentile(50)), p99Us: us(h.percentile(99)), p999Us: us(h.percentile(99.9)), meanUs: us(h.meanNs()), maxUs: us(h.maxNs) };
}

/** The state of one run; runWorkload() below drives it. */
class Run {
  readonly hist = new LatencyHistogram();
  readonly rng: Rng;
  readonly blocks: number;
  readonly sectorsPerBlock: number;
  /** Verification: the generation last acknowledged per block (0 none, UNKNOWN after an error). */
  readonly expected: Uint32Array | undefined;
  /** Blocks with a request in flight (so a read never races a write of the same block). */
  readonly busy: Uint8Array;
  readonly report: VerifyReport | undefined;
  generation = 0;
  cursor = 0;
  issued = 0;
  ios = 0;
  reads = 0;
  writes = 0;
  errors = 0;
  firstError: string | undefined;
  stopped = false;
  interrupted = false;
  startMs = 0;
  endMs = 0;
  lastCompletionMs = 0;
  readonly targetIos: number;
  resolve: (() => void) | undefined;
  readonly onDone = (slot: IoSlot) => this.complete(slot);
  readonly expectedOf = (sector: number) => this.expectedFor(sector);

  constructor(
    readonly io: BlkfrontDataPath,
    readonly opts: WorkloadOptions,
    readonly seed: number,
    readonly deadlineMs: number,
  ) {
    this.rng = new Rng(seed);
    this.sectorsPerBlock = opts.bs / BLKIF_SECTOR_BYTES;
    const regionSectors = Math.min(io.config.sectors, opts.sizeBytes === undefined ? Infinity : Math.floor(opts.sizeBytes / BLKIF_SECTOR_BYTES));
    this.blocks = Math.floor(regionSectors / this.sectorsPerBlock);
    this.targetIos = opts.runtimeMs === undefined ? this.blocks : Infinity;
    this.busy = new Uint8Array(this.blocks);
    this.expected = opts.verify ? new Uint32Array(this.blocks) : undefined;
    this.report = opts.verify ? new VerifyReport() : undefined;
  }

  private expectedFor(sector: number): number {
    const g = this.expected![Math.floor(sector / this.sectorsPerBlock)]!;
    return g === UNKNOWN ? 0 : g;
  }

  /** Pick the next block, or -1 when the one picked is busy (try again on a completion). */
  private nextBlock(): number {
    if (isRandom(this.opts.rw)) {
      for (let attempt = 0; attempt < 8; attempt++) {
        const b = Math.floor(this.rng.next() * this.blocks);
        if (this.busy[b] === 0) return b;
      }
      return -1;
    }
    const b = this.cursor % this.blocks;
    if (this.busy[b] !== 0) return -1;
    this.cursor++;
    return b;
  }

  private isWrite(): boolean {
    switch (this.opts.rw) {
      case 'read':
      case 'randread':
        return false;
      case 'write':
      case 'randwrite':
        return true;
      default:
        return this.rng.next() * 100 >= (this.opts.rwmixread ?? 50);
    }
  }

  private over(): boolean {
    return this.stopped || this.issued >= this.targetIos || performance.now() >= this.deadlineMs;
  }

  /** Issue on `slot` if the run goes on; otherwise give the slot back. */
  issue(slot: IoSlot): boolean {
    if (this.over()) {
      this.io.releaseSlot(slot);
      return false;
    }
    const block = this.nextBlock();
    if (block < 0) {
      // Every block tried is in flight; a later completion issues instead.
      this.io.releaseSlot(slot);
      return false;
    }
    const write = this.isWrite();
    const sector = block * this.sectorsPerBlock;
    if (write && this.expected !== undefined) {
      this.generation = (this.generation + 1) >>> 0 || 1;
      stampSectors(slot.words, 0, sector, this.sectorsPerBlock, this.generation);
      slot.user = this.generation;
    }
    this.busy[block] = 1;
    this.issued++;
    try {
      this.io.submit(slot, write ? 'write' : 'read', sector, this.sectorsPerBlock, this.onDone);
    } catch (error) {
      this.busy[block] = 0;
      this.fail((error as Error).message);
      this.io.releaseSlot(slot);
      return false;
    }
    return true;
  }

  /** Fill every free slot. */
  fill(): void {
    for (let slot = this.io.acquire(); slot !== undefined; slot = this.io.acquire()) {
      if (!this.issue(slot)) break;
    }
    this.io.kick();
    this.maybeFinish();
  }

  private complete(slot: IoSlot): void {
    const now = performance.now();
    this.lastCompletionMs = now;
    const block = slot.sector / this.sectorsPerBlock;
    this.busy[block] = 0;
    this.hist.record(slot.latencyMs * 1e6);
    this.ios++;
    const write = slot.op === 'write';
    if (write) this.writes++;
    else this.reads++;
    if (slot.status !== 0) {
      this.fail(`${slot.op} at sector ${slot.sector} failed with status ${slot.status}`);
      if (this.expected !== undefined) this.expected[block] = UNKNOWN;
    } else if (this.expected !== undefined) {
      if (write) this.expected[block] = slot.user as number;
      else checkSectors(slot.words, 0, slot.sector, slot.sectors, this.expectedOf, this.report!);
    }
    // A slot left idle because its block was busy is taken up again here, so the pipe stays
    // full; with nothing in flight no block is busy, so the run cannot stall.
    this.issue(slot);
    if (this.io.freeSlots > 0 && !this.over()) this.fill();
    this.maybeFinish();
  }

  fail(message: string): void {
    this.errors++;
    this.firstError ??= message;
    this.stopped = true;
  }

  maybeFinish(): void {
    if (this.io.inflight !== 0 || this.resolve === undefined) return;
    const done = this.stopped || this.issued >= this.targetIos || performance.now() >= this.deadlineMs;
    if (!done) return;
    this.endMs = performance.now();
    const resolve = this.resolve;
    this.resolve = undefined;
    resolve();
  }
}

const UNKNOWN = 0xffffffff;

export function validateWorkload(io: BlkfrontDataPath, opts: WorkloadOptions): void {
  const fail = (message: string) => {
    throw new SplitblkError(BLKFRONT_WORKLOAD_ERROR, message);
  };
  if (!RW_MODES.includes(opts.rw)) fail(`rw must be one of ${RW_MODES.join(', ')}`);
  if (!Number.isInteger(opts.bs) || opts.bs < BLKIF_SECTOR_BYTES || opts.bs % BLKIF_SECTOR_BYTES !== 0) fail(`bs ${opts.bs} is not a multiple of 512`);
  if (opts.bs > io.config.maxIoBytes) fail(`bs ${opts.bs} exceeds the largest request of this connection (${io.config.maxIoBytes} bytes)`);
  if (!Number.isInteger(opts.iodepth) || opts.iodepth < 1) fail(`iodepth ${opts.iodepth} must be at least 1`);
  if (opts.bs / BLKIF_SECTOR_BYTES > io.config.sectors || (opts.sizeBytes !== undefined && opts.sizeBytes < opts.bs)) {
    fail(`the region holds no block of ${opts.bs} bytes`);
  }
  if (io.config.readonly && opts.rw !== 'read' && opts.rw !== 'randread') fail('the disk is read-only');
}

/**
 * Run `opts` on the data path. Uses at most min(iodepth, the slots) requests in flight. When
 * verifying a workload that wrote, every block written is read back and checked at the end.
 */
export async function runWorkload(io: BlkfrontDataPath, opts: WorkloadOptions): Promise<WorkloadResult> {
  validateWorkload(io, opts);
  const seed = opts.seed ?? (Date.now() >>> 0);
  const start = performance.now();
  const run = new Run(io, opts, seed, opts.runtimeMs === undefined ? Infinity : start + opts.runtimeMs);
  if (run.expected !== undefined && run.blocks > VERIFY_BLOCKS_MAX) {
    throw new SplitblkError(BLKFRONT_WORKLOAD_ERROR, `verifying ${run.blocks} blocks exceeds ${VERIFY_BLOCKS_MAX}: use --size or a larger bs`);
  }
  const stop = () => {
    // Not an error: the run ends early and reports what it did.
    run.interrupted = true;
    run.stopped = true;
  };
  // A signal aborted before the run (Ctrl-C while connecting) ends it before its first I/O.
  if (opts.signal?.aborted === true) stop();
  opts.signal?.addEventListener('abort', stop, { once: true });
  try {
    await drive(run, opts.iodepth, opts.stallTimeoutMs ?? STALL_TIMEOUT_MS);
  } finally {
    opts.signal?.removeEventListener('abort', stop);
  }
  const seconds = (run.endMs - start) / 1000;
  const bytesRead = run.reads * opts.bs;
  const bytesWritten = run.writes * opts.bs;
  if (run.expected !== undefined && run.writes > 0 && run.errors === 0 && !run.interrupted) await readBack(run, opts.iodepth, opts.stallTimeoutMs ?? STALL_TIMEOUT_MS);
  return {
    rw: opts.rw,
    bs: opts.bs,
    iodepth: Math.min(opts.iodepth, io.config.slots),
    seed,
    ios: run.ios,
    reads: run.reads,
    writes: run.writes,
    bytesRead,
    bytesWritten,
    seconds,
    iops: seconds > 0 ? run.ios / seconds : 0,
    mbPerS: seconds > 0 ? (bytesRead + bytesWritten) / seconds / 1e6 : 0,
    latency: summarize(run.hist),
    errors: run.errors,
    firstError: run.firstError,
    interrupted: run.interrupted,
    verify: run.report,
  };
}

/** Run until the stop condition, with at most `iodepth` slots taken; stall watchdog included. */
function drive(run: Run, iodepth: number, stallTimeoutMs: number): Promise<void> {
  return new Promise<void>((resolve) => {
    run.resolve = resolve;
    run.startMs = run.lastCompletionMs = performance.now();
    // Hold back the slots beyond iodepth for the whole run.
    const held: IoSlot[] = [];
    while (run.io.freeSlots > iodepth) held.push(run.io.acquire()!);
    const watchdog = setInterval(() => {
      if (run.io.inflight > 0 && performance.now() - run.lastCompletionMs > stallTimeoutMs) {
        run.fail(`no response for ${stallTimeoutMs} ms`);
        run.io.failInflight();
      }
    }, Math.min(1000, stallTimeoutMs));
    watchdog.unref();
    const origResolve = resolve;
    run.resolve = () => {
      clearInterval(watchdog);
      for (const slot of held) run.io.releaseSlot(slot);
      origResolve();
    };
    run.fill();
  });
}

/** Read back every block this run wrote (sequentially) and check it. */
async function readBack(run: Run, iodepth: number, stallTimeoutMs: number): Promise<void> {
  const written: number[] = [];
  for (let b = 0; b < run.blocks; b++) if (run.expected![b] !== 0) written.push(b);
  let next = 0;
  const io = run.io;
  await new Promise<void>((resolve) => {
    let lastMs = performance.now();
    const onDone = (slot: IoSlot): void => {
      lastMs = performance.now();
      if (slot.status !== 0) run.fail(`read-back at sector ${slot.sector} failed with status ${slot.status}`);
      else checkSectors(slot.words, 0, slot.sector, slot.sectors, run.expectedOf, run.report!);
      issue(slot);
      if (io.inflight === 0) finish();
    };
    const issue = (slot: IoSlot): void => {
      if (next >= written.length || run.errors > 0) {
        io.releaseSlot(slot);
        return;
      }
      const sector = written[next++]! * run.sectorsPerBlock;
      try {
        io.submit(slot, 'read', sector, run.sectorsPerBlock, onDone);
      } catch (error) {
        run.fail((error as Error).message);
        io.releaseSlot(slot);
      }
    };
    const watchdog = setInterval(() => {
      if (io.inflight > 0 && performance.now() - lastMs > stallTimeoutMs) {
        run.fail(`no response for ${stallTimeoutMs} ms during read-back`);
        io.failInflight();
      }
    }, Math.min(1000, stallTimeoutMs));
    watchdog.unref();
    const finish = () => {
      clearInterval(watchdog);
      resolve();
    };
    for (let n = 0; n < iodepth; n++) {
      const slot = io.acquire();
      if (slot === undefined) break;
      issue(slot);
    }
    io.kick();
    if (io.inflight === 0) finish();
  });
}
