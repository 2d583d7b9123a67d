/** The blocks of a dynamic VHD as sector ranges in the file, sorted: for check and repair. */
import { BAT_UNUSED } from '../../../../vhd/index.js';
import type { VhdFile } from '../vhd-file.js';

export interface BlockExtent {
  block: number;
  /** First sector (the bitmap) and first sector past the data. */
  start: number;
  end: number;
}

export function blockExtents(vhd: VhdFile): BlockExtent[] {
  const span = vhd.bitmapSecs + vhd.sectorsPerBlock;
  const out: BlockExtent[] = [];
  vhd.bat.forEach((e, block) => {
    if (e !== BAT_UNUSED) out.push({ block, start: e, end: e + span });
  });
  return out.sort((a, b) => a.start - b.start);
}

