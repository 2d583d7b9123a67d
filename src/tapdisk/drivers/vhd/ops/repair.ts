/**
 * Offline repair of one dynamic or differencing VHD: restores the trailing footer (and the copy
 * at offset 0) from whichever is valid, drops BAT entries that point outside the file or onto
 * metadata or another block, rebuilds the batmap from the bitmaps, and trims bytes past the
 * last block.
 */
import { FOOTER_SIZE, VHD_SECTOR_SIZE, bitClear, bitSet, batmapChecksum, encodeBat, encodeFooter, parseFooter } from '../../../../vhd/index.js';
import { readExact, writeFull } from '../iov.js';
import { VhdFile } from '../vhd-file.js';
import { blockExtents } from './extents.js';

export interface RepairResult {
  actions: string[];
}

export async function repairVhd(path: string): Promise<RepairResult> {
  const vhd = await VhdFile.open(path, true);
  const actions: string[] = [];
  try {
    if (!vhd.isDynamic) return { actions };
    if (vhd.footerSource !== 'trailing') actions.push('restored the trailing footer from the copy at offset 0');
    const copy = parseFooter(await readExact(vhd.fh, FOOTER_SIZE, 0));
    if (!copy.ok) {
      await writeFull(vhd.fh, encodeFooter(vhd.footer), 0);
      actions.push('rewrote the footer copy at offset 0');
    }
    await dropBadEntries(vhd, actions);
    await rebuildBatmap(vhd, actions);
    vhd.endSector = vhd.computeEndSector();
    const before = (await vhd.fh.stat()).size;
    await vhd.writeTrailingFooter();
    await vhd.fh.truncate(vhd.endSector * VHD_SECTOR_SIZE + FOOTER_SIZE);
    const after = (await vhd.fh.stat()).size;
    if (after < before) actions.push(`trimmed ${before - after} bytes past the last block`);
    await vhd.fh.datasync();
    return { actions };
  } finally {
    await vhd.close();
  }
}

async function dropBadEntries(vhd: VhdFile, actions: string[]): Promise<void> {
  const fileBytes = (await vhd.fh.stat()).size;
  // Blocks must end before the footer of a file that still holds them; with the trailing footer
  // gone, the file's last byte bounds them.
  const limit = Math.floor((vhd.footerSource === 'trailing' ? fileBytes - FOOTER_SIZE : fileBytes) / VHD_SECTOR_SIZE);
  const meta = vhd.metadataEndSector();
  const totalBlocks = Math.ceil(vhd.sizeBytes / vhd.blockSize);
  let prevEnd = meta;
  let changed = false;
  for (const x of blockExtents(vhd)) {
    const bad = x.block >= totalBlocks || x.start < prevEnd || x.end > limit;
    if (bad) {
      vhd.bat[x.block] = 0xffffffff;
      changed = true;
      actions.push(`dropped BAT entry ${x.block} (sector ${x.start}): outside the file or overlapping`);
      continue;
    }
    prevEnd = x.end;
  }
  if (changed) await writeFull(vhd.fh, encodeBat(vhd.bat), vhd.header!.tableOffset);
}

async function rebuildBatmap(vhd: VhdFile, actions: string[]): Promise<void> {
  const bm = vhd.batmap;
  if (!bm) {
    if (vhd.expectsBatmap) actions.push('the batmap is missing; left without one (readers fall back to the bitmaps)');
    return;
  }
  const before = bm.map.slice();
  for (let b = 0; b < vhd.bat.length && b < bm.map.length * 8; b++) {
    const full = vhd.bat[b] !== 0xffffffff && vhd.bitmapIsFull(await vhd.bitmap(b));
    if (full) bitSet(bm.map, b);
    else bitClear(bm.map, b);
  }
  const checksum = batmapChecksum(bm.map, bm.header.batmapVersion);
  if (Buffer.from(before).equals(Buffer.from(bm.map)) && checksum === bm.header.checksum) return;
  bm.header = { ...bm.header, checksum };
  await vhd.writeBatmapAll(bm);
  actions.push('rebuilt the batmap from the block bitmaps');
}
