import * as fs from 'node:fs';
import { SECTOR_SIZE, TdOp, TdStatus, type DriverFactory, type FileIo, type FileIoSink, type ImageDriver, type ImageInfo, type TdRequest } from '../api.js';
import { SplitblkError } from '../../util/errors.js';
import { ERR_BAD_SPEC, ERR_NO_IMAGE, ERR_OPEN_IMAGE, ERR_TYPE_UNAVAILABLE } from '../errors.js';
import { blockDeviceGeometry } from './blockdev.js';

const EIO = 5;
const EBUSY = 16;
const EOPNOTSUPP = 95;

/**
 * `aio:/path` and `raw:/path` - a regular file or a block device, read and written through the
 * native AIO context. Zero copy: a request's segments (views of granted guest pages, registered
 * as regions) go to the kernel as the iovecs of one preadv/pwritev; this driver never touches
 * the bytes, so it adds nothing to the copy counter. Flush is fdatasync; discard punches a hole
 * (a secure discard zeroes the range). A request with more segments than one operation takes is
 * split into several operations and completes when all have.
 */
class RawImage implements ImageDriver, FileIoSink {
  // Per-request state, indexed by the token given to FileIo; sized for the VBD's depth.
  private readonly reqs: (TdRequest | null)[];
  private readonly parts: Uint32Array;
  private readonly bytes: Float64Array;
  private readonly errnos: Int32Array;
  private readonly freeTokens: Int32Array;
  private freeCount: number;
  private closing: (() => void) | null = null;
  private closed = false;

  constructor(readonly info: ImageInfo, private readonly fd: number, private readonly io: FileIo, depthMax: number) {
    this.reqs = new Array<TdRequest | null>(depthMax).fill(null);
    this.parts = new Uint32Array(depthMax);
    this.bytes = new Float64Array(depthMax);
    this.errnos = new Int32Array(depthMax);
    this.freeTokens = new Int32Array(depthMax);
    for (let i = 0; i < depthMax; i++) this.freeTokens[i] = depthMax - 1 - i;
    this.freeCount = depthMax;
  }

  queue(req: TdRequest): void {
    if (this.closed || this.freeCount === 0) {
      req.done(req, TdStatus.Error, this.closed ? EIO : EBUSY);
      return;
    }
    const token = this.freeTokens[--this.freeCount]!;
    this.reqs[token] = req;
    this.bytes[token] = 0;
    this.errnos[token] = 0;
    const offset = req.sector * SECTOR_SIZE;
    switch (req.op) {
      case TdOp.Read:
      case TdOp.Write:
        this.transfer(req, token, offset);
        break;
      case TdOp.Flush:
        this.parts[token] = 1;
        this.io.fdatasync(this.fd, this, token);
        break;
      case TdOp.Discard:
        this.parts[token] = 1;
        if (req.secure) this.io.zeroRange(this.fd, offset, req.sectors * SECTOR_SIZE, this, token);
        else this.io.punchHole(this.fd, offset, req.sectors * SECTOR_SIZE, this, token);
        break;
      default:
        this.parts[token] = 1;
        this.fileIoDone(token, -EOPNOTSUPP);
    }
  }

  /** One vectored operation per iovecsPerOpMax segments, each at its own file offset. */
  private transfer(req: TdRequest, token: number, offset: number): void {
    const perOp = this.io.iovecsPerOpMax;
    this.parts[token] = Math.max(1, Math.ceil(req.segments / perOp));
    if (req.segments === 0) {
      this.fileIoDone(token, 0);
      return;
    }
    for (let first = 0; first < req.segments; first += perOp) {
      const count = Math.min(perOp, req.segments - first);
      if (req.op === TdOp.Read) {
        this.io.readv(this.fd, offset, req.segRegion, req.segOffset, req.segLength, first, count, this, token);
      } else {
        this.io.writev(this.fd, offset, req.segRegion, req.segOffset, req.segLength, first, count, this, token);
      }
      for (let k = first; k < first + count; k++) offset += req.segLength[k]!;
    }
  }

  fileIoDone(token: number, result: number): void {
    if (result < 0) this.errnos[token] = -result;
    else this.bytes[token]! += result;
    if (--this.parts[token]! > 0) return;
    const req = this.reqs[token]!;
    this.reqs[token] = null;
    this.freeTokens[this.freeCount++] = token;
    let errno = this.errnos[token]!;
    // A short transfer is an error: the VBD checked the range, so the file shrank under us.
    const transfers = req.op === TdOp.Read || req.op === TdOp.Write;
    if (errno === 0 && transfers && this.bytes[token] !== req.sectors * SECTOR_SIZE) errno = EIO;
    if (errno === 0) req.done(req, TdStatus.Ok, 0);
    else req.done(req, errno === EOPNOTSUPP ? TdStatus.NotSupported : TdStatus.Error, errno);
    if (this.closing && this.freeCount === this.reqs.length) this.closing();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.freeCount < this.reqs.length) await new Promise<void>((resolve) => { this.closing = resolve; });
    fs.closeSync(this.fd);
  }
}

function openFlags(readonly: boolean, direct: boolean): number {
  let flags = readonly ? fs.constants.O_RDONLY : fs.constants.O_RDWR;
  if (direct) flags |= fs.constants.O_DIRECT;
  return flags;
}

/**
 * Open with O_NOATIME where allowed: an image's access time means nothing, and updating it
 * costs every read a check (touch_atime) in the kernel. Only the file's owner (or
 * CAP_FOWNER) may ask for it; anyone else gets EPERM and an ordinary open.
 */
function openImageFile(file: string, flags: number): number {
  const noatime = fs.constants.O_NOATIME ?? 0;
  if (noatime !== 0) {
    try {
      return fs.openSync(file, flags | noatime);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EPERM') throw error;
    }
  }
  return fs.openSync(file, flags);
}

export const driver: DriverFactory = {
  async open(spec, opts, env) {
    if (spec.path === '') throw new SplitblkError(ERR_BAD_SPEC, `${spec.type}: missing path in ${JSON.stringify(spec.text)}`, { spec: spec.text });
    if (!fs.existsSync(spec.path)) {
      throw new SplitblkError(ERR_NO_IMAGE, `${spec.text}: no such file or device`, { spec: spec.text, path: spec.path });
    }
    if (env.io === null) {
      throw new SplitblkError(ERR_TYPE_UNAVAILABLE, `${spec.type}: needs the native AIO context, which this process does not have`, { spec: spec.text });
    }
    const io = env.io;
    const readonly = opts.readonly ?? false;
    const direct = opts.direct ?? (spec.params['direct'] === '1' || spec.params['direct'] === 'true');
    let fd: number;
    try {
      fd = openImageFile(spec.path, openFlags(readonly, direct));
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      const which = code === 'ENOENT' ? ERR_NO_IMAGE : ERR_OPEN_IMAGE;
      throw new SplitblkError(which, `${spec.text}: ${(error as Error).message}`, { spec: spec.text, path: spec.path }, { cause: error });
    }
    try {
      const st = fs.fstatSync(fd);
      let bytes: number;
      let sectorSize = 512;
      let physicalSectorSize = 512;
      if (st.isFile()) {
        bytes = st.size;
        physicalSectorSize = 4096;
      } else if (st.isBlockDevice()) {
        const geometry = blockDeviceGeometry(st.rdev);
        bytes = geometry.bytes;
        sectorSize = geometry.logicalSectorSize;
        physicalSectorSize = geometry.physicalSectorSize;
      } else {
        throw new SplitblkError(ERR_OPEN_IMAGE, `${spec.text}: not a regular file or block device`, { spec: spec.text, path: spec.path });
      }
      const info: ImageInfo = {
        sectors: Math.floor(bytes / sectorSize) * (sectorSize / SECTOR_SIZE),
        sectorSize,
        physicalSectorSize,
        readonly,
        discard: !readonly,
        chain: [spec.text],
      };
      return new RawImage(info, fd, io, env.depthMax);
    } catch (error) {
      fs.closeSync(fd);
      throw error;
    }
  },
};
