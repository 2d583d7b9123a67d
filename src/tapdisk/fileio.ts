import { AIO_CQE_SIZE, AIO_IOV_SIZE, AIO_SQE_SIZE, AioOp, type AioContext } from '../native/api.js';
import { assert } from '../util/assert.js';
import type { FileIo, FileIoSink } from './api.js';
import { postMicrotask } from '../util/microtask.js';

const EAGAIN = 11;
/** Linux's UIO_MAXIOV: the most iovecs one preadv/pwritev (or io_uring readv) takes. */
const IOV_MAX = 1024;

export interface AioFileIoOptions {
  /** Operations waiting for a free submission entry, beyond which new ones fail with EAGAIN. */
  backlogMax?: number;
}

/**
 * FileIo over the native AioContext. Operations are written straight into the context's shared
 * submission and iovec tables (numbers only: the iovecs name registered regions, so no data is
 * copied) and submitted together in one microtask, so a ring's batch becomes one submit call.
 * Completions arrive in batches and are routed to their sinks by the entry's userData, an index
 * into a fixed table. When every entry is in flight, operations wait in a fixed-size backlog.
 * One per AioContext: it takes over the context's onComplete.
 */
export class AioFileIo implements FileIo {
  readonly iovecsPerOpMax: number;
  private readonly sqe: DataView;
  private readonly iov: Uint32Array;
  private readonly cqe: DataView;
  private readonly depthMax: number;
  private readonly iovecsMax: number;

  // Entries in flight, indexed by userData.
  private readonly sinks: (FileIoSink | null)[];
  private readonly tokens: Float64Array;
  private readonly freeIds: Int32Array;
  private freeCount: number;

  // Entries written to the submission table and not yet submitted.
  private staged = 0;
  private stagedIovecs = 0;
  private posted = false;
  private readonly flushBound = () => this.flush();

  // Backlog ring: operations waiting for a free entry.
  private readonly backlogMax: number;
  private readonly bOp: Uint8Array;
  private readonly bFd: Int32Array;
  private readonly bOffset: Float64Array;
  private readonly bLength: Float64Array;
  private readonly bFirst: Uint32Array;
  private readonly bCount: Uint32Array;
  private readonly bToken: Float64Array;
  private readonly bRegions: (Uint32Array | null)[];
  private readonly bOffsets: (Uint32Array | null)[];
  private readonly bLengths: (Uint32Array | null)[];
  private readonly bSink: (FileIoSink | null)[];
  private bHead = 0;
  private bSize = 0;

  constructor(private readonly ctx: AioContext, opts: AioFileIoOptions = {}) {
    this.sqe = new DataView(ctx.submissions);
    this.iov = new Uint32Array(ctx.iovecs);
    this.cqe = new DataView(ctx.completions);
    this.depthMax = ctx.submissions.byteLength / AIO_SQE_SIZE;
    this.iovecsMax = ctx.iovecs.byteLength / AIO_IOV_SIZE;
    this.iovecsPerOpMax = Math.min(IOV_MAX, this.iovecsMax);
    this.sinks = new Array<FileIoSink | null>(this.depthMax).fill(null);
    this.tokens = new Float64Array(this.depthMax);
    this.freeIds = new Int32Array(this.depthMax);
    for (let i = 0; i < this.depthMax; i++) this.freeIds[i] = this.depthMax - 1 - i;
    this.freeCount = this.depthMax;
    const n = (this.backlogMax = opts.backlogMax ?? 8192);
    this.bOp = new Uint8Array(n);
    this.bFd = new Int32Array(n);
    this.bOffset = new Float64Array(n);
    this.bLength = new Float64Array(n);
    this.bFirst = new Uint32Array(n);
    this.bCount = new Uint32Array(n);
    this.bToken = new Float64Array(n);
    this.bRegions = new Array<Uint32Array | null>(n).fill(null);
    this.bOffsets = new Array<Uint32Array | null>(n).fill(null);
    this.bLengths = new Array<Uint32Array | null>(n).fill(null);
    this.bSink = new Array<FileIoSink | null>(n).fill(null);
    ctx.onComplete = (count) => this.complete(count);
  }

  readv(fd: number, offset: number, regions: Uint32Array, offsets: Uint32Array, lengths: Uint32Array,
    first: number, count: number, sink: FileIoSink, token: number): void {
    this.op(AioOp.Readv, fd, offset, 0, regions, offsets, lengths, first, count, sink, token);
  }

  writev(fd: number, offset: number, regions: Uint32Array, offsets: Uint32Array, lengths: Uint32Array,
    first: number, count: number, sink: FileIoSink, token: number): void {
    this.op(AioOp.Writev, fd, offset, 0, regions, offsets, lengths, first, count, sink, token);
  }

  fdatasync(fd: number, sink: FileIoSink, token: number): void {
    this.op(AioOp.Fdatasync, fd, 0, 0, null, null, null, 0, 0, sink, token);
  }

  punchHole(fd: number, offset: number, length: number, sink: FileIoSink, token: number): void {
    this.op(AioOp.PunchHole, fd, offset, length, null, null, null, 0, 0, sink, token);
  }

  zeroRange(fd: number, offset: number, length: number, sink: FileIoSink, token: number): void {
    this.op(AioOp.ZeroRange, fd, offset, length, null, null, null, 0, 0, sink, token);
  }

  private op(op: AioOp, fd: number, offset: number, length: number,
    regions: Uint32Array | null, offsets: Uint32Array | null, lengths: Uint32Array | null,
    first: number, count: number, sink: FileIoSink, token: number): void {
    assert(count <= this.iovecsPerOpMax, 'too many iovecs for one operation');
    if (this.bSize === 0 && this.freeCount > 0) {
      this.stage(op, fd, offset, length, regions, offsets, lengths, first, count, sink, token);
      return;
    }
    if (this.bSize === this.backlogMax) {
      // The backlog is sized for every VBD's queue depth; overflowing it is an operating
      // error of the configuration, answered like a busy device.
      sink.fileIoDone(token, -EAGAIN);
      return;
    }
    const i = (this.bHead + this.bSize++) % this.backlogMax;
    this.bOp[i] = op;
    this.bFd[i] = fd;
    this.bOffset[i] = offset;
    this.bLength[i] = length;
    this.bRegions[i] = regions;
    this.bOffsets[i] = offsets;
    this.bLengths[i] = lengths;
    this.bFirst[i] = first;
    this.bCount[i] = count;
    this.bSink[i] = sink;
    this.bToken[i] = token;
  }

  /** Write one entry (and its iovecs) into the tables; submit in a microtask. */
  private stage(op: AioOp, fd: number, offset: number, length: number,
    regions: Uint32Array | null, offsets: Uint32Array | null, lengths: Uint32Array | null,
    first: number, count: number, sink: FileIoSink, token: number): void {
    // The native side copies the tables during submit(), so a full iovec table only means
    // "submit what is staged now".
    if (this.stagedIovecs + count > this.iovecsMax) this.flush();
    const id = this.freeIds[--this.freeCount]!;
    this.sinks[id] = sink;
    this.tokens[id] = token;
    const at = this.staged * AIO_SQE_SIZE;
    const sqe = this.sqe;
    sqe.setUint8(at, op);
    sqe.setUint8(at + 1, 0);
    sqe.setUint16(at + 2, count, true);
    sqe.setInt32(at + 4, fd, true);
    sqe.setUint32(at + 8, id, true);
    sqe.setUint32(at + 12, this.stagedIovecs, true);
    sqe.setFloat64(at + 16, offset, true);
    sqe.setFloat64(at + 24, length, true);
    if (count > 0) {
      const iov = this.iov;
      let w = this.stagedIovecs * (AIO_IOV_SIZE / 4);
      for (let k = first; k < first + count; k++) {
        iov[w] = regions![k]!;
        iov[w + 1] = offsets![k]!;
        iov[w + 2] = lengths![k]!;
        iov[w + 3] = 0;
        w += AIO_IOV_SIZE / 4;
      }
      this.stagedIovecs += count;
    }
    this.staged++;
    if (!this.posted) {
      this.posted = true;
      postMicrotask(this.flushBound);
    }
  }

  /** Submit everything staged. Entries the context refuses complete with EAGAIN. */
  private flush(): void {
    this.posted = false;
    const staged = this.staged;
    if (staged === 0) return;
    this.staged = 0;
    this.stagedIovecs = 0;
    const accepted = this.ctx.submit(staged);
    for (let k = accepted; k < staged; k++) {
      const id = this.sqe.getUint32(k * AIO_SQE_SIZE + 8, true);
      this.finish(id, -EAGAIN);
    }
  }

  private complete(count: number): void {
    const cqe = this.cqe;
    for (let k = 0; k < count; k++) {
      const at = k * AIO_CQE_SIZE;
      this.finish(cqe.getUint32(at, true), cqe.getInt32(at + 4, true));
    }
    this.drainBacklog();
  }

  private finish(id: number, result: number): void {
    const sink = this.sinks[id];
    assert(sink, 'completion for an entry not in flight');
    const token = this.tokens[id]!;
    this.sinks[id] = null;
    this.freeIds[this.freeCount++] = id;
    sink.fileIoDone(token, result);
  }

  private drainBacklog(): void {
    while (this.bSize > 0 && this.freeCount > 0) {
      const i = this.bHead;
      this.bHead = (this.bHead + 1) % this.backlogMax;
      this.bSize--;
      const sink = this.bSink[i]!;
      const regions = this.bRegions[i]!;
      const offsets = this.bOffsets[i]!;
      const lengths = this.bLengths[i]!;
      this.bSink[i] = null;
      this.bRegions[i] = null;
      this.bOffsets[i] = null;
      this.bLengths[i] = null;
      this.stage(this.bOp[i]! as AioOp, this.bFd[i]!, this.bOffset[i]!, this.bLength[i]!,
        regions, offsets, lengths, this.bFirst[i]!, this.bCount[i]!, sink, this.bToken[i]!);
    }
  }

  /** Operations staged, in flight or waiting in the backlog. */
  busy(): number {
    return this.depthMax - this.freeCount + this.bSize;
  }
}
