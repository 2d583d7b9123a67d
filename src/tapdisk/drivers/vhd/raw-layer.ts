/** A raw file as the bottom of a VHD chain (a differencing disk whose parent id is nil). */
import { open, type FileHandle } from 'node:fs/promises';
import { SplitblkError } from '../../../util/errors.js';
import { VHD_SECTOR_SIZE } from '../../../vhd/constants.js';

export class RawLayer {
  readonly kind = 'raw' as const;
  private constructor(
    readonly path: string,
    readonly fh: FileHandle,
    readonly sizeBytes: number,
  ) {}

  get sectors(): number {
    return Math.floor(this.sizeBytes / VHD_SECTOR_SIZE);
  }

  static async open(path: string): Promise<RawLayer> {
    try {
      const fh = await open(path, 'r');
      return new RawLayer(path, fh, (await fh.stat()).size);
    } catch (error) {
      const e = error as NodeJS.ErrnoException;
      throw new SplitblkError('SPLITBLK_ERR_VHD_PARENT_MISSING', `${path}: ${e.message}`, { path, errno: e.errno });
    }
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}
