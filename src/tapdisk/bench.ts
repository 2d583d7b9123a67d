import { SECTOR_SIZE, TdOp, TdStatus, type TdRequest } from './api.js';
import type { Clock } from './clock.js';
import type { Vbd } from './vbd.js';

const PAGE_BYTES = 4096;

export interface TapdiskBenchOptions {
  pattern: 'randread' | 'read';
  /** Bytes per request (a multiple of 4096); each 4 KiB page is one segment, as blkfront sends. */
  blockBytes: number;
  /** Requests in flight. */
  depth: number;
  seconds: number;
  clock: Clock;
  /** Seed of the random offsets. */
  seed?: number;
  /** Where in `region` the requests' buffers start (page-aligned, like granted pages). */
  regionOffset?: number;
}

export interface TapdiskBenchResult {
  ops: number;
  bytes: number;
  seconds: number;
  iops: number;
  bytesPerSecond: number;
  errors: number;
}

/**
 * Drive a VBD directly (no ring) with `depth` requests in flight for `seconds`: what the tapdisk
 * core and its driver cost, without blkback. Each request reads into its own part of `region`
 * (depth * blockBytes bytes from `regionOffset`, registered by the caller). The buffers should be
 * page-aligned, as granted pages are: on some CPUs (AMD Zen) the kernel's copy from the page
 * cache is several times slower into a destination 16 bytes past a page boundary, which is
 * where malloc puts a large ArrayBuffer.
 */
export function benchVbd(vbd: Vbd, region: number, opts: TapdiskBenchOptions): Promise<TapdiskBenchResult> {
  const blockSectors = opts.blockBytes / SECTOR_SIZE;
  const blocks = Math.floor(vbd.info.sectors / blockSectors);
  const segments = opts.blockBytes / PAGE_BYTES;
  const base = opts.regionOffset ?? 0;
  let state = (opts.seed ?? 1) >>> 0;
  let next = 0;
  const nextSector = (): number => {
    if (opts.pattern === 'read') {
      const sector = next * blockSectors;
      next = (next + 1) % blocks;
      return sector;
    }
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return (state % blocks) * blockSectors;
  };
  return new Promise((resolve) => {
    let ops = 0;
    let errors = 0;
    let inFlight = 0;
    const start = opts.clock.now();
    const end = start + opts.seconds * 1000;
    const finish = () => {
      const seconds = (opts.clock.now() - start) / 1000;
      resolve({ ops, bytes: ops * opts.blockBytes, seconds, iops: ops / seconds, bytesPerSecond: (ops * opts.blockBytes) / seconds, errors });
    };
    // The clock is read every clockEvery completions: a read costs about as much as a request
    // through the null driver, and the harness should not weigh on what it measures.
    const clockEvery = 8;
    let completions = 0;
    let running = true;
    const done = (req: TdRequest, status: TdStatus) => {
      inFlight--;
      if (status === TdStatus.Ok) ops++;
      else errors++;
      if (running && ++completions % clockEvery === 0) running = opts.clock.now() < end;
      if (running) issue(req);
      else if (inFlight === 0) finish();
    };
    const issue = (req: TdRequest) => {
      req.sector = nextSector();
      inFlight++;
      vbd.queue(req);
    };
    for (let i = 0; i < opts.depth; i++) {
      const req: TdRequest = {
        op: TdOp.Read, sector: 0, sectors: blockSectors, secure: false, segments,
        segRegion: new Uint32Array(segments).fill(region),
        segOffset: Uint32Array.from({ length: segments }, (_, k) => base + i * opts.blockBytes + k * PAGE_BYTES),
        segLength: new Uint32Array(segments).fill(PAGE_BYTES),
        done, tag: i,
      };
      issue(req);
    }
  });
}
