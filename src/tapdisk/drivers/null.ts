import { SECTOR_SIZE, TdOp, TdStatus, type DriverEnv, type DriverFactory, type ImageDriver, type ImageInfo, type TdRequest } from '../api.js';
import { parseSizedSpec } from './sized.js';

/**
 * `null:SIZE` - a disk of SIZE bytes (default 1G) that stores nothing: writes, flushes and
 * discards complete at once, reads complete at once with zeros. For benchmarks of everything
 * above the driver. The zero fill is counted as copied bytes (the CPU writes guest memory).
 */
class NullImage implements ImageDriver {
  constructor(readonly info: ImageInfo, private readonly env: DriverEnv) {}

  queue(req: TdRequest): void {
    if (req.op === TdOp.Read) {
      for (let s = 0; s < req.segments; s++) {
        const view = this.env.regions.view(req.segRegion[s]!);
        const from = req.segOffset[s]!;
        if (from + req.segLength[s]! > view.length) {
          req.done(req, TdStatus.Error, 14 /* EFAULT */);
          return;
        }
        view.fill(0, from, from + req.segLength[s]!);
        this.env.copies.bytesCopied += req.segLength[s]!;
      }
    }
    req.done(req, TdStatus.Ok, 0);
  }

  async close(): Promise<void> {}
}

export const driver: DriverFactory = {
  async open(spec, opts, env) {
    const sized = parseSizedSpec(spec, 1024 ** 3, 2 ** 52);
    if (!sized.ok) throw sized.error;
    return new NullImage({
      sectors: sized.value.bytes / SECTOR_SIZE,
      sectorSize: sized.value.sectorSize,
      physicalSectorSize: sized.value.sectorSize,
      readonly: opts.readonly ?? false,
      discard: true,
      chain: [spec.text],
    }, env);
  },
};
