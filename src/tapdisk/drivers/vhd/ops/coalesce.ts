/**
 * Offline coalesce: copy every sector a differencing disk holds into its parent (a VHD, a fixed
 * VHD or a raw file), so the parent alone reads as the child did. The child is left as it was;
 * anything else that uses the parent (other children) sees the merged data, as with vhd-util
 * coalesce.
 *
 * The copy runs a few blocks at once, each lane with one reused block buffer: per block, the
 * child's bitmap (skipped when its batmap bit says full), one read spanning the present
 * sectors, and the parent sink's writes of the present runs. The parent's metadata is written
 * in batches after the data it points at (coalesce-sink.ts), and the parent is flushed before
 * coalesceVhd returns, so a caller may re-parent or remove the child as soon as it does.
 */
import { BAT_UNUSED, DiskType, VHD_SECTOR_SIZE, VhdErrorCode, bitRunLength, bitTest, vhdError } from '../../../../vhd/index.js';
import { readvFull } from '../iov.js';
import { findParent } from '../parent.js';
import { VhdFile } from '../vhd-file.js';
import { openParentSink, type BlockRuns, type ParentSink } from './coalesce-sink.js';

/** Child blocks copied at once (each lane holds one block buffer). */
export const COALESCE_BLOCKS_IN_FLIGHT = 4;
/** Bound on the lanes' buffers together, for images with large blocks. */
export const COALESCE_BUFFER_BYTES_MAX = 32 << 20;

export interface CoalesceResult {
  child: string;
  parent: string;
  /** Sectors copied into the parent. */
  sectors: number;
}

/**
 * Merge the differencing disk at `path` into its parent. `onProgress(done, total)` counts child
 * blocks as they complete; it may throw (a job's cancel point): no block is started after
 * that, the blocks in flight finish, the parent's uncommitted new blocks are dropped, and the
 * error propagates.
 */
export async function coalesceVhd(path: string, onProgress?: (done: number, total: number) => void): Promise<CoalesceResult> {
  const child = await VhdFile.open(path, false);
  try {
    if (child.type !== DiskType.Differencing) throw vhdError(VhdErrorCode.BadField, `${path}: not a differencing disk, nothing to coalesce into`);
    const parentPath = await findParent(child);
    const sink = await openParentSink(child, parentPath);
    try {
      if (sink.sectors < child.sectors) {
        throw vhdError(VhdErrorCode.BadField, `${parentPath} is smaller than ${path}; growing the parent is not supported`);
      }
      const sectors = await copyBlocks(child, sink, onProgress);
      await sink.finish();
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
  const blocks: number[] = [];
  for (let b = 0; b < child.bat.length && b * spb < child.sectors; b++) if (child.bat[b] !== BAT_UNUSED) blocks.push(b);
  const total = blocks.length;
  const lanes = Math.max(1, Math.min(COALESCE_BLOCKS_IN_FLIGHT, Math.floor(COALESCE_BUFFER_BYTES_MAX / child.blockSize), total));
  let next = 0;
  let done = 0;
  let copied = 0;
  let failure: { error: unknown } | undefined;
  const lane = async (): Promise<void> => {
    const buf = new Uint8Array(child.blockSize);
    const r: BlockRuns = { runs: new Uint32Array(spb + 2), count: 0 };
    while (failure === undefined && next < total) {
      const block = blocks[next++]!;
      try {
        // Not `copied += await ...`: that reads `copied` before the await, losing other lanes' counts.
        const sectors = await copyBlock(child, sink, block, buf, r);
        copied += sectors;
        onProgress?.(++done, total);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: lanes }, lane));
  if (failure !== undefined) throw failure.error;
  return copied;
}

/** Copy one allocated child block; returns the sectors copied. */
async function copyBlock(child: VhdFile, sink: ParentSink, block: number, buf: Uint8Array, r: BlockRuns): Promise<number> {
  const spb = child.sectorsPerBlock;
  const first = block * spb;
  const n = Math.min(spb, child.sectors - first);
  const bm = child.batmapFull(block) ? undefined : await child.bitmap(block);
  const sectors = presentRuns(bm, n, r);
  if (sectors === 0) return 0;
  const lo = r.runs[0]!;
  const hi = r.runs[2 * r.count - 2]! + r.runs[2 * r.count - 1]!;
  // One read from the first present sector to the last: the absent ones in between cost a
  // memory copy, much less than a system call per run.
  await readvFull(child.fh, [buf.subarray(lo * VHD_SECTOR_SIZE, hi * VHD_SECTOR_SIZE)], child.dataOffset(child.bat[block]!) + lo * VHD_SECTOR_SIZE);
  await sink.writeBlock(block, first, r, buf);
  return sectors;
}

/** The present runs among the block's first `n` sectors (all of them without a bitmap). */
function presentRuns(bm: Uint8Array | undefined, n: number, r: BlockRuns): number {
  r.count = 0;
  let sectors = 0;
  for (let i = 0; i < n; ) {
    const present = bm === undefined || bitTest(bm, i);
    const run = bm === undefined ? n : bitRunLength(bm, i, n, present);
    if (present) {
      r.runs[2 * r.count] = i;
      r.runs[2 * r.count + 1] = run;
      r.count++;
      sectors += run;
    }
    i += run;
  }
  return sectors;
}
