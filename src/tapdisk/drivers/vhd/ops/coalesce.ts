/**
 * Offline coalesce: copy every sector a differencing disk holds into its parent (a VHD, through
 * the driver's allocating write path, or a raw file), so the parent alone reads as the child
 * did. The child is left as it was; anything else that uses the parent (other children) sees
 * the merged data, as with vhd-util coalesce.
 */
import { open } from 'node:fs/promises';
import { BAT_UNUSED, DiskType, VHD_SECTOR_SIZE, VhdErrorCode, bitRunLength, bitTest, uuidEqual, uuidIsNil, vhdError } from '../../../../vhd/index.js';
import { openVhdChain } from '../index.js';
import { readvFull, writevFull } from '../iov.js';
import { findParent } from '../parent.js';
import { VhdFile } from '../vhd-file.js';

export interface CoalesceResult {
  child: string;
  parent: string;
  /** Sectors copied into the parent. */
  sectors: number;
}

/** A sink that takes sectors of the parent's virtual disk. */
interface ParentSink {
  sectors: number;
  write(sector: number, count: number, buf: Uint8Array): Promise<void>;
  close(): Promise<void>;
}

export async function coalesceVhd(path: string, onProgress?: (done: number, total: number) => void): Promise<CoalesceResult> {
  const child = await VhdFile.open(path, false);
  try {
    if (child.type !== DiskType.Differencing) throw vhdError(VhdErrorCode.BadField, `${path}: not a differencing disk, nothing to coalesce into`);
    const parentPath = await findParent(child);
    const sink = await openSink(child, parentPath);
    try {
      if (sink.sectors < child.sectors) {
        throw vhdError(VhdErrorCode.BadField, `${parentPath} is smaller than ${path}; growing the parent is not supported`);
      }
      const sectors = await copyBlocks(child, sink, onProgress);
      return { child: path, parent: parentPath, sectors };
    } finally {
      await sink.close();
    }
  } finally {
    await child.close();
  }
}

async function copyBlocks(child: VhdFile, sink: ParentSink, onProgress?: (done: number, total: number) => void): Promise<number> {
  const spb = child.sectorsPerBlock;
  const buf = new Uint8Array(child.blockSize);
  const blocks = child.bat.reduce((n, e) => (e === BAT_UNUSED ? n : n + 1), 0);
  let done = 0;
  let copied = 0;
  for (let block = 0; block < child.bat.length; block++) {
    const entry = child.bat[block]!;
    if (entry === BAT_UNUSED) continue;
    const first = block * spb;
    const n = Math.min(spb, child.sectors - first);
    const bm = child.batmapFull(block) ? undefined : await child.bitmap(block);
    for (let i = 0; i < n; ) {
      const present = bm === undefined || bitTest(bm, i);
      const run = bm === undefined ? n : bitRunLength(bm, i, n, present);
      if (present) {
        const view = buf.subarray(0, run * VHD_SECTOR_SIZE);
        await readvFull(child.fh, [view], child.dataOffset(entry) + i * VHD_SECTOR_SIZE);
        await sink.write(first + i, run, view);
        copied += run;
      }
      i += run;
    }
    onProgress?.(++done, blocks);
  }
  return copied;
}

async function openSink(child: VhdFile, parentPath: string): Promise<ParentSink> {
  if (uuidIsNil(child.header!.parentUuid)) {
    const fh = await open(parentPath, 'r+');
    const size = (await fh.stat()).size;
    return {
      sectors: Math.floor(size / VHD_SECTOR_SIZE),
      write: (sector, _count, buf) => writevFull(fh, [buf], sector * VHD_SECTOR_SIZE),
      close: async () => {
        await fh.datasync();
        await fh.close();
      },
    };
  }
  const io = await openVhdChain(parentPath, {});
  const leaf = io.leaf;
  if (leaf.kind !== 'vhd' || !uuidEqual(leaf.footer.uuid, child.header!.parentUuid)) {
    await io.close();
    throw vhdError(VhdErrorCode.ParentUuid, `${parentPath} is not the parent ${child.path} recorded`);
  }
  return {
    sectors: io.sectors,
    write: (sector, count, buf) => io.write(sector, count, [buf]),
    close: () => io.close(),
  };
}
