import { SECTOR_SIZE, TdOp, TdStatus, type DriverEnv, type DriverFactory, type ImageDriver, type ImageInfo, type TdRequest } from '../api.js';
import { parseSizedSpec } from './sized.js';

const RAM_BYTES_MAX = 2 ** 31;

/**
 * `ram:SIZE` - a disk in this process's memory, for tests. The bytes live in the driver
 * environment's store under the spec text, so a pause/unpause (or a second VBD on the same spec)
 * sees the same disk; they are lost when the process exits. Reads and writes copy between the
 * request's segments and the disk with the CPU, and count it.
 */
class RamImage implements ImageDriver {
  /** Every request completes inside queue(). */
  readonly synchronous = true;
  constructor(readonly info: ImageInfo, private readonly disk: Uint8Array, private readonly env: DriverEnv) {}

  queue(req: TdRequest): void {
    switch (req.op) {
      case TdOp.Read:
      case TdOp.Write:
        if (!this.transfer(req)) {
          req.done(req, TdStatus.Error, 14 /* EFAULT */);
          return;
        }
        break;
      case TdOp.Discard:
        this.disk.fill(0, req.sector * SECTOR_SIZE, (req.sector + req.sectors) * SECTOR_SIZE);
        break;
      default:
        break;
    }
    req.done(req, TdStatus.Ok, 0);
  }

  /** Copy the segments; false (nothing more copied) at a segment outside its region or the disk. */
  private transfer(req: TdRequest): boolean {
    let at = req.sector * SECTOR_SIZE;
    for (let s = 0; s < req.segments; s++) {
      const view = this.env.regions.view(req.segRegion[s]!);
      const from = req.segOffset[s]!;
      const length = req.segLength[s]!;
      if (from + length > view.length || at + length > this.disk.length) return false;
      if (req.op === TdOp.Read) view.set(this.disk.subarray(at, at + length), from);
      else this.disk.set(view.subarray(from, from + length), at);
      at += length;
      this.env.copies.bytesCopied += length;
    }
    return true;
  }

  async close(): Promise<void> {}
}

export const driver: DriverFactory = {
  async open(spec, opts, env) {
    const sized = parseSizedSpec(spec, 64 * 1024 ** 2, RAM_BYTES_MAX);
    if (!sized.ok) throw sized.error;
    const key = `ram:${spec.text}`;
    let disk = env.store.get(key) as Uint8Array | undefined;
    if (disk === undefined) {
      disk = new Uint8Array(sized.value.bytes);
      env.store.set(key, disk);
    }
    return new RamImage({
      sectors: sized.value.bytes / SECTOR_SIZE,
      sectorSize: sized.value.sectorSize,
      physicalSectorSize: sized.value.sectorSize,
      readonly: opts.readonly ?? false,
      discard: true,
      chain: [spec.text],
    }, disk, env);
  },
};
