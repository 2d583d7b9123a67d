import { SECTOR_SIZE, TdOp, TdStatus, type FileIo, type FileIoSink, type TdRequest } from '../api.js';

const EIO = 5;
const EOPNOTSUPP = 95;

/**
 * Requests in flight on image files through the native FileIo, for the drivers that hand a
 * request's own segments to the kernel (raw, and VHD's fast path). A request's segments go out
 * as vectored operations of at most `iovecsPerOpMax` iovecs each, at consecutive file offsets,
 * and the request completes when all of them have. Per-request state lives in arrays indexed by
 * a token and sized once for the VBD's depth, so nothing is allocated per request.
 */
export class VectoredIo implements FileIoSink {
  private readonly reqs: (TdRequest | null)[];
  private readonly parts: Uint32Array;
  private readonly bytes: Float64Array;
  private readonly errnos: Int32Array;
  private readonly freeTokens: Int32Array;
  private freeCount: number;
  private drained: (() => void) | null = null;

  constructor(private readonly io: FileIo, depthMax: number) {
    this.reqs = new Array<TdRequest | null>(depthMax).fill(null);
    this.parts = new Uint32Array(depthMax);
    this.bytes = new Float64Array(depthMax);
    this.errnos = new Int32Array(depthMax);
    this.freeTokens = Int32Array.from({ length: depthMax }, (_, i) => depthMax - 1 - i);
    this.freeCount = depthMax;
  }

  /** Whether another request can be taken now. */
  get full(): boolean {
    return this.freeCount === 0;
  }

  /** Read or write `req`'s segments at `offset` bytes in `fd`. The caller checked `full`. */
  transfer(req: TdRequest, fd: number, offset: number): void {
    const perOp = this.io.iovecsPerOpMax;
    if (req.segments !== 0 && req.segments <= perOp) {
      // One operation, the common case: no division, and no walk of the lengths for the
      // offsets of later operations.
      const token = this.take(req, 1);
      if (req.op === TdOp.Read) this.io.readv(fd, offset, req.segRegion, req.segOffset, req.segLength, 0, req.segments, this, token);
      else this.io.writev(fd, offset, req.segRegion, req.segOffset, req.segLength, 0, req.segments, this, token);
      return;
    }
    const token = this.take(req, Math.max(1, Math.ceil(req.segments / perOp)));
    if (req.segments === 0) {
      this.fileIoDone(token, 0);
      return;
    }
    let at = offset;
    for (let first = 0; first < req.segments; first += perOp) {
      const count = Math.min(perOp, req.segments - first);
      if (req.op === TdOp.Read) this.io.readv(fd, at, req.segRegion, req.segOffset, req.segLength, first, count, this, token);
      else this.io.writev(fd, at, req.segRegion, req.segOffset, req.segLength, first, count, this, token);
      for (let k = first; k < first + count; k++) at += req.segLength[k]!;
    }
  }

  fdatasync(req: TdRequest, fd: number): void {
    this.io.fdatasync(fd, this, this.take(req, 1));
  }

  /** Discard: punch a hole, or zero the range for a secure discard. */
  discard(req: TdRequest, fd: number, offset: number, length: number): void {
    const token = this.take(req, 1);
    if (req.secure) this.io.zeroRange(fd, offset, length, this, token);
    else this.io.punchHole(fd, offset, length, this, token);
  }

  fileIoDone(token: number, result: number): void {
    if (result < 0) this.errnos[token] = -result;
    else this.bytes[token]! += result;
    if (--this.parts[token]! > 0) return;
    const req = this.reqs[token]!;
    this.reqs[token] = null;
    this.freeTokens[this.freeCount++] = token;
    let errno = this.errnos[token]!;
    // A short transfer is an error: the driver checked the range against the image, so the
    // file shrank under us or the extent lies past its end.
    const transfers = req.op === TdOp.Read || req.op === TdOp.Write;
    if (errno === 0 && transfers && this.bytes[token] !== req.sectors * SECTOR_SIZE) errno = EIO;
    if (errno === 0) req.done(req, TdStatus.Ok, 0);
    else req.done(req, errno === EOPNOTSUPP ? TdStatus.NotSupported : TdStatus.Error, errno);
    if (this.drained !== null && this.freeCount === this.reqs.length) this.drained();
  }

  /** Resolves once nothing is in flight. */
  async drain(): Promise<void> {
    if (this.freeCount < this.reqs.length) await new Promise<void>((resolve) => (this.drained = resolve));
  }

  private take(req: TdRequest, parts: number): number {
    const token = this.freeTokens[--this.freeCount]!;
    this.reqs[token] = req;
    this.parts[token] = parts;
    this.bytes[token] = 0;
    this.errnos[token] = 0;
    return token;
  }
}
