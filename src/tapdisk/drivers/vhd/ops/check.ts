/**
 * Offline consistency check of one VHD, with qemu-img check's verdicts: clean, corrupt (the
 * image's metadata contradicts itself and reading could return wrong data), leaks only (space
 * in the file nothing references), or not a format we check.
 */
import { stat } from 'node:fs/promises';
import {
  DiskType,
  FOOTER_SIZE,
  VHD_SECTOR_SIZE,
  bitTest,
  parseFooter,
  uuidEqual,
  uuidIsNil,
} from '../../../../vhd/index.js';
import { SplitblkError } from '../../../../util/errors.js';
import { findParent } from '../parent.js';
import { readExact } from '../iov.js';
import { VhdFile } from '../vhd-file.js';
import { blockExtents } from './extents.js';
import { looksLikeVhd } from './probe.js';

export type CheckVerdict = 'clean' | 'corrupt' | 'leaks' | 'unsupported';

export interface CheckReport {
  filename: string;
  format: 'vpc' | 'unknown';
  verdict: CheckVerdict;
  corruptions: string[];
  leaks: string[];
  leakedBytes: number;
  totalBlocks: number;
  allocatedBlocks: number;
  /** Where the image's data ends (bytes), the footer going right after. */
  imageEndOffset: number;
}

/** Alignment padding tapdisk leaves before a block, in sectors: not a leak. */
const ALIGN_GAP_SECTORS_MAX = 7;

export async function checkVhd(path: string, onProgress?: (done: number, total: number) => void): Promise<CheckReport> {
  const report: CheckReport = {
    filename: path,
    format: 'vpc',
    verdict: 'clean',
    corruptions: [],
    leaks: [],
    leakedBytes: 0,
    totalBlocks: 0,
    allocatedBlocks: 0,
    imageEndOffset: 0,
  };
  if (!(await looksLikeVhd(path))) return { ...report, format: 'unknown', verdict: 'unsupported' };
  let vhd: VhdFile;
  try {
    vhd = await VhdFile.open(path, false);
  } catch (error) {
    if (!(error instanceof SplitblkError)) throw error;
    report.corruptions.push(error.message);
    return finish(report);
  }
  try {
    if (vhd.footerSource !== 'trailing') report.corruptions.push('the trailing footer is missing or invalid (the copy at offset 0 is good; `image repair` restores it)');
    if (vhd.isDynamic) await checkDynamic(vhd, report, onProgress);
    else await checkFixed(vhd, report);
  } finally {
    await vhd.close();
  }
  return finish(report);
}

function finish(r: CheckReport): CheckReport {
  r.verdict = r.corruptions.length > 0 ? 'corrupt' : r.leaks.length > 0 ? 'leaks' : 'clean';
  return r;
}

async function checkFixed(vhd: VhdFile, r: CheckReport): Promise<void> {
  const size = (await stat(vhd.path)).size;
  r.imageEndOffset = vhd.sizeBytes;
  if (size < vhd.sizeBytes + FOOTER_SIZE) r.corruptions.push(`file is ${size} bytes, a fixed disk of ${vhd.sizeBytes} needs ${vhd.sizeBytes + FOOTER_SIZE}`);
}

async function checkDynamic(vhd: VhdFile, r: CheckReport, onProgress?: (done: number, total: number) => void): Promise<void> {
  const fileBytes = (await stat(vhd.path)).size;
  const copy = parseFooter(await readExact(vhd.fh, FOOTER_SIZE, 0));
  if (!copy.ok) r.corruptions.push(`footer copy at offset 0: ${copy.error.message}`);
  else if (!uuidEqual(copy.value.uuid, vhd.footer.uuid)) r.corruptions.push('footer copy at offset 0 names a different disk');

  const meta = vhd.metadataEndSector();
  const extents = blockExtents(vhd);
  r.totalBlocks = Math.ceil(vhd.sizeBytes / vhd.blockSize);
  r.allocatedBlocks = extents.length;
  const end = vhd.computeEndSector();
  r.imageEndOffset = end * VHD_SECTOR_SIZE;
  const dataLimit = Math.floor((fileBytes - FOOTER_SIZE) / VHD_SECTOR_SIZE);
  for (let i = vhd.bat.length - 1; i >= r.totalBlocks; i--) {
    if (vhd.bat[i] !== 0xffffffff) r.corruptions.push(`BAT entry ${i} is past the disk's end but allocated`);
  }
  let prevEnd = meta;
  for (const x of extents) {
    if (x.start < meta) r.corruptions.push(`block ${x.block} at sector ${x.start} overlaps the metadata (which ends at ${meta})`);
    else if (x.start < prevEnd) r.corruptions.push(`block ${x.block} at sector ${x.start} overlaps the previous block`);
    else if (x.start - prevEnd > ALIGN_GAP_SECTORS_MAX) {
      r.leaks.push(`${x.start - prevEnd} sectors unused before block ${x.block}`);
      r.leakedBytes += (x.start - prevEnd) * VHD_SECTOR_SIZE;
    }
    if (x.end > dataLimit) r.corruptions.push(`block ${x.block} ends at sector ${x.end}, past the file's data (${dataLimit})`);
    prevEnd = Math.max(prevEnd, x.end);
  }
  const tail = fileBytes - FOOTER_SIZE - end * VHD_SECTOR_SIZE;
  if (tail > 0) {
    r.leaks.push(`${tail} bytes past the last block`);
    r.leakedBytes += tail;
  }
  await checkBatmap(vhd, r, onProgress);
  if (vhd.type === DiskType.Differencing) await checkParent(vhd, r);
}

async function checkBatmap(vhd: VhdFile, r: CheckReport, onProgress?: (done: number, total: number) => void): Promise<void> {
  if (vhd.expectsBatmap && vhd.batmap === undefined) {
    r.corruptions.push('the batmap (tapdisk 1.2+ image) is missing or invalid');
    return;
  }
  const extents = blockExtents(vhd);
  let done = 0;
  for (const x of extents) {
    if (vhd.batmap !== undefined && bitTest(vhd.batmap.map, x.block)) {
      const bm = await vhd.bitmap(x.block);
      if (!vhd.bitmapIsFull(bm)) r.corruptions.push(`batmap marks block ${x.block} full but its bitmap is not`);
    }
    onProgress?.(++done, extents.length);
  }
  if (vhd.batmap) {
    for (let b = 0; b < vhd.bat.length; b++) {
      if (vhd.bat[b] === 0xffffffff && bitTest(vhd.batmap.map, b)) r.corruptions.push(`batmap marks unallocated block ${b} full`);
    }
  }
}

async function checkParent(vhd: VhdFile, r: CheckReport): Promise<void> {
  let parentPath: string;
  try {
    parentPath = await findParent(vhd);
  } catch (error) {
    r.corruptions.push((error as Error).message);
    return;
  }
  if (uuidIsNil(vhd.header!.parentUuid)) return;
  try {
    const parent = await VhdFile.open(parentPath, false);
    const same = uuidEqual(parent.footer.uuid, vhd.header!.parentUuid);
    await parent.close();
    if (!same) r.corruptions.push(`parent ${parentPath} has a different unique id than recorded`);
  } catch (error) {
    r.corruptions.push(`parent ${parentPath}: ${(error as Error).message}`);
  }
}
