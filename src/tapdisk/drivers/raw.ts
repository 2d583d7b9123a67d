import * as fs from 'node:fs';
import { SECTOR_SIZE, TdOp, TdStatus, type DriverFactory, type FileIo, type ImageDriver, type ImageInfo, type TdRequest } from '../api.js';
import { VectoredIo } from './vectored-io.js';
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
class RawImage implements ImageDriver {
  private readonly vio: VectoredIo;
  private closed = false;

  constructor(readonly info: ImageInfo, private readonly fd: number, io: FileIo, depthMax: number) {
    this.vio = new VectoredIo(io, depthMax);
  }

  queue(req: TdRequest): void {
    if (this.closed || this.vio.full) {
      req.done(req, TdStatus.Error, this.closed ? EIO : EBUSY);
      return;
    }
    const offset = req.sector * SECTOR_SIZE;
    switch (req.op) {
      case TdOp.Read:
      case TdOp.Write:
        this.vio.transfer(req, this.fd, offset);
        break;
      case TdOp.Flush:
        this.vio.fdatasync(req, this.fd);
        break;
      case TdOp.Discard:
        this.vio.discard(req, this.fd, offset, req.sectors * SECTOR_SIZE);
        break;
      default:
        req.done(req, TdStatus.NotSupported, EOPNOTSUPP);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.vio.drain();
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
