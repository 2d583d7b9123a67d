import { TdOp, TdStatus, type TdRequest } from '../../src/tapdisk/api.js';
import { Tapdisk } from '../../src/tapdisk/tapdisk.js';

/** A pooled-style request with room for `segmentsMax` segments. */
export function makeRequest(segmentsMax = 16): TdRequest {
  return {
    op: TdOp.Read, sector: 0, sectors: 0, secure: false, segments: 0,
    segRegion: new Uint32Array(segmentsMax), segOffset: new Uint32Array(segmentsMax), segLength: new Uint32Array(segmentsMax),
    done: () => undefined, tag: 0,
  };
}

/** Fill `req` for `op` on [sector, sector+sectors) with one segment per 4 KiB of `region` at `offset`. */
export function setRequest(req: TdRequest, op: TdOp, sector: number, sectors: number, region = 0, offset = 0): TdRequest {
  req.op = op;
  req.sector = sector;
  req.sectors = op === TdOp.Flush ? 0 : sectors;
  req.secure = false;
  let bytes = op === TdOp.Read || op === TdOp.Write ? sectors * 512 : 0;
  let n = 0;
  while (bytes > 0) {
    const len = Math.min(4096, bytes);
    req.segRegion[n] = region;
    req.segOffset[n] = offset;
    req.segLength[n] = len;
    offset += len;
    bytes -= len;
    n++;
  }
  req.segments = n;
  return req;
}

export interface Outcome {
  status: TdStatus;
  errno: number;
}

/** Anything requests can be queued on: a Vbd or an ImageDriver. */
export interface Queueable {
  queue(req: TdRequest): void;
}

/** Queue `req` on `vbd` and resolve when it completes. */
export function submit(vbd: Queueable, req: TdRequest): Promise<Outcome> {
  return new Promise((resolve) => {
    req.done = (_r, status, errno) => resolve({ status, errno });
    vbd.queue(req);
  });
}

export function request(vbd: Queueable, op: TdOp, sector: number, sectors: number, region = 0, offset = 0): Promise<Outcome> {
  return submit(vbd, setRequest(makeRequest(Math.max(1, Math.ceil(sectors / 8))), op, sector, sectors, region, offset));
}

/**
 * A seeded random mix of reads, writes, discards and flushes over a 32 KiB disk, with a
 * sequential model of the disk's content: each request's expected read data is what the model
 * holds at the request's position in the queue, so a test can check that the scheduler (however
 * it runs things) made the result look as if run in queue order. Request n uses the 4 KiB of
 * `memory` at n * 4096 (so `memory` must hold 4 KiB per request).
 */
export class RandomWorkload {
  static readonly diskBytes = 32 * 1024;
  private state: number;
  private readonly model = new Uint8Array(RandomWorkload.diskBytes);

  constructor(seed: number, private readonly memory: Uint8Array, private readonly region: number) {
    this.state = seed;
  }

  /** A number in [0, n) from the seeded sequence. */
  rand(n: number): number {
    this.state = (Math.imul(this.state, 1103515245) + 12345) >>> 0;
    return (this.state >>> 8) % n;
  }

  /** Request n, with its write data in `memory` and the model updated; `check` verifies its outcome. */
  next(n: number): { req: TdRequest; check: (r: Outcome) => void } {
    const roll = this.rand(20);
    const op = roll < 9 ? TdOp.Write : roll < 18 ? TdOp.Read : roll < 19 ? TdOp.Discard : TdOp.Flush;
    const sectors = 1 + this.rand(8);
    const sector = this.rand(64 - sectors);
    const at = n * 4096;
    const req = setRequest(makeRequest(2), op, sector, sectors, this.region, at);
    const bytes = sectors * 512;
    if (op === TdOp.Write) {
      for (let k = 0; k < bytes; k++) this.memory[at + k] = (n * 7 + k) & 0xff;
      this.model.set(this.memory.subarray(at, at + bytes), sector * 512);
    } else if (op === TdOp.Discard) {
      this.model.fill(0, sector * 512, sector * 512 + bytes);
    }
    const expected = op === TdOp.Read ? this.model.slice(sector * 512, sector * 512 + bytes) : null;
    const check = (r: Outcome): void => {
      if (r.status !== TdStatus.Ok) throw new Error(`request ${n} failed`);
      if (expected && !Buffer.from(this.memory.subarray(at, at + bytes)).equals(expected)) {
        throw new Error(`read ${n} of sectors ${sector}+${sectors} saw the wrong data`);
      }
    };
    return { req, check };
  }
}

/**
 * A RandomWorkload of up to `requestsMax` requests over a fresh in-process Tapdisk (closed at
 * teardown), seeded from SPLITBLK_SEED or the clock; the seed is logged so a failure replays.
 */
export function seededWorkload(t: { log(m: string): void; teardown(fn: () => Promise<void>): void }, requestsMax: number) {
  const seed = Number(process.env['SPLITBLK_SEED'] ?? Date.now() % 1_000_000);
  t.log(`seed ${seed} (set SPLITBLK_SEED to replay)`);
  const tapdisk = new Tapdisk({ aio: null });
  t.teardown(() => tapdisk.close());
  const memory = new Uint8Array(requestsMax * 4096);
  const work = new RandomWorkload(seed, memory, tapdisk.registerRegion(memory.buffer));
  return { seed, tapdisk, work };
}
