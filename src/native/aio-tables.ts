import { AIO_CQE_SIZE, AIO_IOV_SIZE, AIO_SQE_SIZE, type AioContext, type AioOp } from './api.js';

/**
 * Typed access to an AioContext's tables (layouts in ./api.ts). Views are made once; the
 * setters write in place, so filling a submission allocates nothing.
 */
export class AioTables {
  readonly #sq: DataView;
  readonly #iov: Uint32Array;
  readonly #cq: Int32Array;

  constructor(context: AioContext) {
    this.#sq = new DataView(context.submissions);
    this.#iov = new Uint32Array(context.iovecs);
    this.#cq = new Int32Array(context.completions);
  }

  /** Submission entry `i`. `length` is only read for PunchHole/ZeroRange. */
  setSubmission(i: number, op: AioOp, fd: number, userData: number, offset: number, iovFirst = 0, iovCount = 0, length = 0): void {
    const at = i * AIO_SQE_SIZE;
    const sq = this.#sq;
    sq.setUint8(at, op); //             0  u8  op
    sq.setUint8(at + 1, 0); //          1  u8  flags
    sq.setUint16(at + 2, iovCount, true); // 2 u16 iovCount
    sq.setInt32(at + 4, fd, true); //    4  i32 fd
    sq.setUint32(at + 8, userData, true); // 8 u32 userData
    sq.setUint32(at + 12, iovFirst, true); // 12 u32 iovFirst
    sq.setFloat64(at + 16, offset, true); // 16 f64 offset
    sq.setFloat64(at + 24, length, true); // 24 f64 length
  }

  /** Iovec entry `i`: `length` bytes at `offset` in `region`. */
  setIovec(i: number, region: number, offset: number, length: number): void {
    const at = (i * AIO_IOV_SIZE) / 4;
    this.#iov[at] = region;
    this.#iov[at + 1] = offset;
    this.#iov[at + 2] = length;
    this.#iov[at + 3] = 0;
  }

  /** Completion `i`'s userData (valid during onComplete). */
  completionUserData(i: number): number {
    return this.#cq[(i * AIO_CQE_SIZE) / 4]! >>> 0;
  }

  /** Completion `i`'s result: bytes transferred, or -errno. */
  completionResult(i: number): number {
    return this.#cq[(i * AIO_CQE_SIZE) / 4 + 1]!;
  }
}
