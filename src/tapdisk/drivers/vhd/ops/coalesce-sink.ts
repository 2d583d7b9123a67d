/**
 * Where a coalesce writes: the parent's virtual disk, taking the present sector runs of one
 * child block at a time. Three kinds:
 *   - a raw file or a fixed VHD: the runs at their sector offset, nothing else;
 *   - a dynamic or differencing VHD with the child's block size: blocks allocated here in
 *     batches, their metadata (BAT entries, grown bitmaps, batmap bits) written once per batch;
 *   - any other VHD (another block size): the driver's allocating write path (ChainIo).
 *
 * Order in the batched sink, per batch (the crash-consistency argument of docs/vhd.md):
 *   1. each new block's bitmap and data, one write, past the end of the file; data into blocks
 *      the parent already has, in place;
 *   2. fdatasync: everything step 3 will point at is durable first, also across power loss;
 *   3. the bitmaps of existing blocks that gained sectors, the trailing footer, the BAT sectors
 *      of the new blocks (one write), then the batmap bits (one map write, then its header);
 * and, once the last batch is in, fdatasync again. A crash before 3 leaves the new blocks
 * unreferenced past the last block, which the next writable open trims (VhdFile.settleTail);
 * sectors written in place into an existing block stay invisible until their bitmap bit is set
 * (differencing parent) or replace the parent's data with the child's (whose readers see the
 * child's anyway).
 */
import { open, type FileHandle } from 'node:fs/promises';
import { BAT_UNUSED, DiskType, VHD_SECTOR_SIZE, bitAllSet, bitSetRange, uuidEqual, uuidIsNil, uuidToString, vhdError, VhdErrorCode } from '../../../../vhd/index.js';
import type { ChainIo } from '../chain-io.js';
import { writevFull } from '../iov.js';
import { VhdFile } from '../vhd-file.js';
import { Writeback } from './writeback.js';

/** Metadata entries (new blocks, grown bitmaps) held before a batch is committed. */
export const COALESCE_BATCH_BLOCKS_MAX = 1024;

/**
 * The present sectors of one block as runs: pairs (first sector in the block, count) in
 * runs[0..2*count), ascending, not touching each other.
 */
export interface BlockRuns {
  runs: Uint32Array;
  count: number;
}

export interface ParentSink {
  readonly path: string;
  readonly sectors: number;
  /**
   * Write the runs of child block `block` (whose first virtual sector is `first`); `buf` holds
   * the block's sectors at their offsets within the block. One call per block, several blocks
   * at once, never the same block twice.
   */
  writeBlock(block: number, first: number, r: BlockRuns, buf: Uint8Array): Promise<void>;
  /** Commit every pending metadata update and make the parent durable. */
  finish(): Promise<void>;
  close(): Promise<void>;
}

/** Open the parent of `child` (at `parentPath`) for writing, checked against the child's record. */
export async function openParentSink(child: VhdFile, parentPath: string): Promise<ParentSink> {
  const parentUuid = child.header!.parentUuid;
  if (uuidIsNil(parentUuid)) {
    const fh = await open(parentPath, 'r+');
    try {
      return new FlatSink(parentPath, fh, Math.floor((await fh.stat()).size / VHD_SECTOR_SIZE), () => fh.close());
    } catch (error) {
      await fh.close();
      throw error;
    }
  }
  const parent = await VhdFile.open(parentPath, true);
  try {
    if (!uuidEqual(parent.footer.uuid, parentUuid)) {
      throw vhdError(VhdErrorCode.ParentUuid, `${parentPath} is not the parent ${child.path} recorded: its id is ${uuidToString(parent.footer.uuid)}, expected ${uuidToString(parentUuid)}`, {
        path: child.path,
        parent: parentPath,
      });
    }
    if (parent.type === DiskType.Fixed) return new FlatSink(parentPath, parent.fh, parent.sectors, () => parent.close());
    if (parent.blockSize !== child.blockSize) {
      await parent.close();
      return await openChainSink(parentPath);
    }
    await parent.settleTail();
    return new BatchedVhdSink(parent);
  } catch (error) {
    await parent.close().catch(() => undefined);
    throw error;
  }
}

/** A raw file, or a fixed VHD (data from offset 0, footer after it): runs at their offsets. */
class FlatSink implements ParentSink {
  private readonly writeback: Writeback;

  constructor(
    readonly path: string,
    private readonly fh: FileHandle,
    readonly sectors: number,
    private readonly closeFile: () => Promise<void>,
  ) {
    this.writeback = new Writeback(fh);
  }

  async writeBlock(_block: number, first: number, r: BlockRuns, buf: Uint8Array): Promise<void> {
    this.writeback.wrote(await writeRuns(this.fh, first * VHD_SECTOR_SIZE, r, buf, undefined));
  }

  async finish(): Promise<void> {
    await this.writeback.settle();
    await this.fh.datasync();
  }

  async close(): Promise<void> {
    await this.writeback.settle().catch(() => undefined);
    return this.closeFile();
  }
}

/**
 * The parent's chain opened for writing, as the driver opens it (tail settled first). Parents
 * of another block size are rare: the chain modules load only then, which keeps them out of
 * the start-up of every `splitblk image coalesce`.
 */
async function openChainSink(path: string): Promise<ParentSink> {
  const [{ closeLayers, openChain }, { ChainIo }] = await Promise.all([import('../chain.js'), import('../chain-io.js')]);
  const layers = await openChain(path, { writable: true });
  try {
    const leaf = layers[0]!;
    if (leaf.kind === 'vhd') await leaf.settleTail();
  } catch (error) {
    await closeLayers(layers);
    throw error;
  }
  return new ChainSink(path, new ChainIo(layers, true));
}

/** A VHD of another block size: through the driver's write path, which allocates as it goes. */
class ChainSink implements ParentSink {
  constructor(
    readonly path: string,
    private readonly io: ChainIo,
  ) {}

  get sectors(): number {
    return this.io.sectors;
  }

  async writeBlock(_block: number, first: number, r: BlockRuns, buf: Uint8Array): Promise<void> {
    for (let i = 0; i < r.count; i++) {
      const at = r.runs[2 * i]!;
      const len = r.runs[2 * i + 1]!;
      await this.io.write(first + at, len, [buf.subarray(at * VHD_SECTOR_SIZE, (at + len) * VHD_SECTOR_SIZE)]);
    }
  }

  finish(): Promise<void> {
    return this.io.flush();
  }

  close(): Promise<void> {
    return this.io.close();
  }
}

/** A block allocated by this coalesce, waiting for its BAT entry. */
interface Reservation {
  block: number;
  entry: number;
  written: boolean;
  full: boolean;
}

/** An existing block whose bitmap gained sectors, waiting for the bitmap write. */
interface Grown {
  block: number;
  entry: number;
  bitmap: Uint8Array;
}

/** A dynamic or differencing VHD with the child's block size: one parent block per child block. */
class BatchedVhdSink implements ParentSink {
  /** New blocks in the order they were placed in the file; committed as a prefix. */
  private reservations: Reservation[] = [];
  private grown: Grown[] = [];
  /** End of the file as far as committed BAT entries go (the rest is reserved, in flight). */
  private committedEnd: number;
  private committing: Promise<void> = Promise.resolve();
  private readonly writeback: Writeback;

  constructor(private readonly vhd: VhdFile) {
    this.committedEnd = vhd.endSector;
    this.writeback = new Writeback(vhd.fh);
  }

  get path(): string {
    return this.vhd.path;
  }
  get sectors(): number {
    return this.vhd.sectors;
  }

  async writeBlock(block: number, _first: number, r: BlockRuns, buf: Uint8Array): Promise<void> {
    const entry = this.vhd.bat[block]!;
    if (entry === BAT_UNUSED) await this.writeNewBlock(block, r, buf);
    else await this.writeExistingBlock(block, entry, r, buf);
    if (this.reservations.length + this.grown.length >= COALESCE_BATCH_BLOCKS_MAX) await this.commit();
  }

  private async writeExistingBlock(block: number, entry: number, r: BlockRuns, buf: Uint8Array): Promise<void> {
    const vhd = this.vhd;
    this.writeback.wrote(await writeRuns(vhd.fh, vhd.dataOffset(entry), r, buf, undefined));
    if (vhd.batmapFull(block)) return;
    const bm = await vhd.bitmap(block);
    let covered = true;
    for (let i = 0; i < r.count && covered; i++) covered = bitAllSet(bm, r.runs[2 * i]!, r.runs[2 * i + 1]!);
    if (covered) return;
    const next = bm.slice();
    for (let i = 0; i < r.count; i++) bitSetRange(next, r.runs[2 * i]!, r.runs[2 * i + 1]!);
    this.grown.push({ block, entry, bitmap: next });
  }

  private async writeNewBlock(block: number, r: BlockRuns, buf: Uint8Array): Promise<void> {
    const vhd = this.vhd;
    // Placed synchronously, so blocks in flight at once get distinct places in file order.
    const entry = vhd.nextBlockSector();
    vhd.endSector = entry + vhd.bitmapSecs + vhd.sectorsPerBlock;
    const res: Reservation = { block, entry, written: false, full: false };
    this.reservations.push(res);
    // A dynamic parent has nothing below it: the sectors the child lacks are holes of the new
    // block, zeros, as they read before, so the whole block is present (as the driver does).
    // A differencing parent marks only what it got, so its own parent shows through the rest.
    const bm = new Uint8Array(vhd.bitmapSecs * VHD_SECTOR_SIZE);
    if (vhd.type === DiskType.Differencing) for (let i = 0; i < r.count; i++) bitSetRange(bm, r.runs[2 * i]!, r.runs[2 * i + 1]!);
    else bitSetRange(bm, 0, vhd.sectorsPerBlock);
    res.full = vhd.bitmapIsFull(bm);
    this.writeback.wrote(await writeRuns(vhd.fh, vhd.dataOffset(entry), r, buf, bm));
    res.written = true;
  }

  /** Commit the written prefix of the reservations and every grown bitmap; one at a time. */
  private commit(): Promise<void> {
    this.committing = this.committing.then(() => this.commitNow());
    return this.committing;
  }

  private async commitNow(): Promise<void> {
    const vhd = this.vhd;
    let k = 0;
    while (k < this.reservations.length && this.reservations[k]!.written) k++;
    const ready = this.reservations.slice(0, k);
    const grown = this.grown;
    if (ready.length === 0 && grown.length === 0) return;
    this.reservations = this.reservations.slice(k);
    this.grown = [];
    // 2. What the metadata will point at is durable before it does. (A background write-back
    //    sync may be in flight; it covers only part of the data, so this one still runs.)
    await this.writeback.settle();
    await vhd.fh.datasync();
    // 3. Grown bitmaps, the footer past everything placed so far, the BAT, the batmap.
    await Promise.all(grown.map((g) => vhd.writeBitmapAt(g.entry, g.bitmap)));
    if (ready.length > 0) {
      await vhd.writeTrailingFooter(vhd.endSector);
      let lo = Infinity;
      let hi = -1;
      for (const res of ready) {
        vhd.bat[res.block] = res.entry;
        lo = Math.min(lo, res.block);
        hi = Math.max(hi, res.block);
        this.committedEnd = Math.max(this.committedEnd, res.entry + vhd.bitmapSecs + vhd.sectorsPerBlock);
      }
      await vhd.writeBatRange(lo, hi);
    }
    const full = ready.filter((res) => res.full).map((res) => res.block);
    for (const g of grown) {
      vhd.cacheBitmap(g.block, g.bitmap);
      if (vhd.bitmapIsFull(g.bitmap)) full.push(g.block);
    }
    if (full.length > 0) await vhd.setBatmapBits(full);
  }

  async finish(): Promise<void> {
    await this.commit();
    await this.vhd.fh.datasync();
  }

  /**
   * After a failure, blocks placed but never committed lie past the committed end: put the
   * footer back there and drop them, as the next writable open would.
   */
  async close(): Promise<void> {
    const vhd = this.vhd;
    try {
      await this.committing.catch(() => undefined);
      await this.writeback.settle().catch(() => undefined);
      if (vhd.endSector !== this.committedEnd) {
        vhd.endSector = this.committedEnd;
        await vhd.settleTail();
      }
    } finally {
      await vhd.close();
    }
  }
}

/**
 * The runs of one block into a parent block whose data starts at `dataAt`. With `bitmap`, the
 * block is new: the bitmap (right before the data) goes in the same write as the first run
 * when that run starts the block. Returns the bytes written.
 */
async function writeRuns(fh: FileHandle, dataAt: number, r: BlockRuns, buf: Uint8Array, bitmap: Uint8Array | undefined): Promise<number> {
  let i = 0;
  let bytes = 0;
  if (bitmap !== undefined) {
    const len = r.count > 0 && r.runs[0] === 0 ? r.runs[1]! : 0;
    await writevFull(fh, [bitmap, buf.subarray(0, len * VHD_SECTOR_SIZE)], dataAt - bitmap.length);
    bytes += bitmap.length + len * VHD_SECTOR_SIZE;
    if (len > 0) i = 1;
  }
  for (; i < r.count; i++) {
    const at = r.runs[2 * i]!;
    const len = r.runs[2 * i + 1]!;
    await writevFull(fh, [buf.subarray(at * VHD_SECTOR_SIZE, (at + len) * VHD_SECTOR_SIZE)], dataAt + at * VHD_SECTOR_SIZE);
    bytes += len * VHD_SECTOR_SIZE;
  }
  return bytes;
}
