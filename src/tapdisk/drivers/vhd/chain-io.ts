/**
 * Guest data I/O on an open chain: reads walk down the chain sector run by sector run; writes go
 * to the leaf and allocate blocks there.
 *
 * Allocation order (the crash-consistency argument is in docs/vhd.md):
 *   1. the guest's data into the new block's data area (this extends the file), the block's
 *      sector bitmap and the trailing footer at the new end of the file, in parallel;
 *   2. the BAT sector that points at the block;
 * and then the guest's write completes; the batmap bit of a full block (the map sector, then
 * the header's checksum) follows in the background. Growing the bitmap of an existing block
 * writes the data first and the bitmap after. Metadata updates of one block are serialised.
 */
import { BAT_UNUSED, DiskType, VHD_SECTOR_SIZE, bitAllSet, bitRunLength, bitSetRange, bitTest } from '../../../vhd/index.js';
import { assert } from '../../../util/assert.js';
import { closeLayers, type Layer } from './chain.js';
import { iovSlice, iovZero, readvFull, writevFull, type Iov } from './iov.js';
import type { VhdFile } from './vhd-file.js';

export class ChainIo {
  private inflight = 0;
  private idle: (() => void) | undefined;
  private closed = false;

  constructor(
    readonly layers: Layer[],
    readonly writable: boolean,
    /**
     * fdatasync between the data/bitmap writes and the BAT write (and between data and bitmap
     * when a block's bitmap grows), so the order also holds across power loss, not only across
     * a killed process. Costs a sync per allocation.
     */
    private readonly durableMetadata = false,
  ) {}

  get leaf(): Layer {
    return this.layers[0]!;
  }
  get sectors(): number {
    return this.leaf.sectors;
  }

  /** Read sectors [sector, sector+count) of the virtual disk into `iov` (count*512 bytes). */
  read(sector: number, count: number, iov: Iov): Promise<void> {
    return this.track(() => this.readLayer(0, sector, count, iov));
  }

  /** Write sectors from `iov`; resolves once data and all metadata it needs are written. */
  write(sector: number, count: number, iov: Iov): Promise<void> {
    return this.track(() => this.writeLeaf(sector, count, iov));
  }

  flush(): Promise<void> {
    return this.track(() => this.leaf.fh.datasync());
  }

  /** Wait for in-flight I/O, rewrite the footer (writable dynamic leaf), close every file. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.inflight > 0) await new Promise<void>((r) => (this.idle = r));
    const leaf = this.leaf;
    if (this.writable && leaf.kind === 'vhd' && leaf.isDynamic) {
      await leaf.writeTrailingFooter();
      await leaf.fh.datasync();
    }
    await closeLayers(this.layers);
  }

  private async track(fn: () => Promise<void>): Promise<void> {
    this.inflight++;
    try {
      await fn();
    } finally {
      if (--this.inflight === 0 && this.idle) this.idle();
    }
  }

  private async readLayer(level: number, sector: number, count: number, iov: Iov): Promise<void> {
    const layer = this.layers[level];
    if (layer === undefined || sector >= layer.sectors) {
      iovZero(iov);
      return;
    }
    if (sector + count > layer.sectors) {
      // Past a (smaller) parent's end the disk reads as zeros.
      const inside = layer.sectors - sector;
      iovZero(iovSlice(iov, inside * VHD_SECTOR_SIZE, (count - inside) * VHD_SECTOR_SIZE));
      return this.readLayer(level, sector, inside, iovSlice(iov, 0, inside * VHD_SECTOR_SIZE));
    }
    if (layer.kind === 'raw' || layer.type === DiskType.Fixed) {
      return readvFull(layer.fh, iov, sector * VHD_SECTOR_SIZE);
    }
    const spb = layer.sectorsPerBlock;
    const work: Promise<void>[] = [];
    for (let s = sector, done = 0; done < count; ) {
      const inBlock = s % spb;
      const n = Math.min(spb - inBlock, count - done);
      work.push(this.readBlock(level, layer, Math.floor(s / spb), inBlock, n, iovSlice(iov, done * VHD_SECTOR_SIZE, n * VHD_SECTOR_SIZE)));
      s += n;
      done += n;
    }
    await Promise.all(work);
  }

  /** Sectors absent from `layer`: its parent's for a differencing disk, zeros otherwise. */
  private readBelow(level: number, layer: VhdFile, sector: number, count: number, iov: Iov): Promise<void> {
    if (layer.type === DiskType.Differencing) return this.readLayer(level + 1, sector, count, iov);
    iovZero(iov);
    return Promise.resolve();
  }

  private async readBlock(level: number, layer: VhdFile, block: number, inBlock: number, n: number, iov: Iov): Promise<void> {
    const spb = layer.sectorsPerBlock;
    const first = block * spb + inBlock;
    const entry = layer.bat[block]!;
    if (entry === BAT_UNUSED) return this.readBelow(level, layer, first, n, iov);
    const base = layer.dataOffset(entry) + inBlock * VHD_SECTOR_SIZE;
    if (layer.batmapFull(block)) return readvFull(layer.fh, iov, base);
    const bm = await layer.bitmap(block);
    const work: Promise<void>[] = [];
    for (let i = 0; i < n; ) {
      const present = bitTest(bm, inBlock + i);
      const run = bitRunLength(bm, inBlock + i, inBlock + n, present);
      const sub = iovSlice(iov, i * VHD_SECTOR_SIZE, run * VHD_SECTOR_SIZE);
      work.push(present ? readvFull(layer.fh, sub, base + i * VHD_SECTOR_SIZE) : this.readBelow(level, layer, first + i, run, sub));
      i += run;
    }
    await Promise.all(work);
  }

  private async writeLeaf(sector: number, count: number, iov: Iov): Promise<void> {
    const leaf = this.leaf;
    // openChain starts every chain with a VHD; only parents may be raw.
    assert(leaf.kind === 'vhd', 'the leaf of a VHD chain is a VHD');
    if (leaf.type === DiskType.Fixed) return writevFull(leaf.fh, iov, sector * VHD_SECTOR_SIZE);
    const spb = leaf.sectorsPerBlock;
    const work: Promise<void>[] = [];
    for (let s = sector, done = 0; done < count; ) {
      const inBlock = s % spb;
      const n = Math.min(spb - inBlock, count - done);
      work.push(this.writeBlock(leaf, Math.floor(s / spb), inBlock, n, iovSlice(iov, done * VHD_SECTOR_SIZE, n * VHD_SECTOR_SIZE)));
      s += n;
      done += n;
    }
    await Promise.all(work);
  }

  private writeBlock(leaf: VhdFile, block: number, inBlock: number, n: number, iov: Iov): Promise<void> {
    const entry = leaf.bat[block]!;
    if (entry !== BAT_UNUSED) {
      // Fast path: every sector written is already marked present, so no metadata changes.
      const bm = leaf.cachedBitmap(block);
      if (leaf.batmapFull(block) || (bm !== undefined && bitAllSet(bm, inBlock, n))) {
        return writevFull(leaf.fh, iov, leaf.dataOffset(entry) + inBlock * VHD_SECTOR_SIZE);
      }
    }
    return leaf.blockLocks.run(block, () => this.writeBlockLocked(leaf, block, inBlock, n, iov)).then((offset) =>
      // The block was allocated (by the write ahead of this one) with these sectors present:
      // a plain data write, outside the lock, so writes queued behind an allocation run in
      // parallel once it is done.
      offset < 0 ? undefined : writevFull(leaf.fh, iov, offset),
    );
  }

  /** Does the write (returns -1), or returns the data offset when no metadata must change. */
  private async writeBlockLocked(leaf: VhdFile, block: number, inBlock: number, n: number, iov: Iov): Promise<number> {
    const entry = leaf.bat[block]!;
    if (entry === BAT_UNUSED) {
      await leaf.allocLock.run(0, () => this.allocate(leaf, block, inBlock, n, iov));
      return -1;
    }
    const bm = await leaf.bitmapLocked(block);
    const offset = leaf.dataOffset(entry) + inBlock * VHD_SECTOR_SIZE;
    if (bitAllSet(bm, inBlock, n)) return offset;
    await writevFull(leaf.fh, iov, offset);
    if (this.durableMetadata) await leaf.fh.datasync();
    const next = bm.slice();
    bitSetRange(next, inBlock, n);
    await leaf.writeBitmapAt(entry, next);
    leaf.cacheBitmap(block, next);
    if (leaf.bitmapIsFull(next)) this.setBatmapBitLater(leaf, block);
    return -1;
  }

  private async allocate(leaf: VhdFile, block: number, inBlock: number, n: number, iov: Iov): Promise<void> {
    const entry = leaf.nextBlockSector();
    const newEnd = entry + leaf.bitmapSecs + leaf.sectorsPerBlock;
    // A dynamic disk has no parent to show through, and the unwritten sectors read as zeros
    // (holes past the old end of the file), so the whole block is marked present, as qemu
    // does; a differencing disk marks only what was written.
    const bm = new Uint8Array(leaf.bitmapSecs * VHD_SECTOR_SIZE);
    if (leaf.type === DiskType.Differencing) bitSetRange(bm, inBlock, n);
    else bitSetRange(bm, 0, leaf.sectorsPerBlock);
    // 1. Data, bitmap and the new trailing footer, in parallel: nothing refers to the block
    //    yet, so any subset of them that lands before a crash is a leak past the last block,
    //    which the next writable open trims.
    //    The bitmap lies right before the data, so a write from the block's first sector (every
    //    allocation of a sequential writer) takes both in one pwritev.
    const data =
      inBlock === 0
        ? writevFull(leaf.fh, [bm, ...iov], entry * VHD_SECTOR_SIZE)
        : Promise.all([writevFull(leaf.fh, iov, leaf.dataOffset(entry) + inBlock * VHD_SECTOR_SIZE), leaf.writeBitmapAt(entry, bm)]);
    await Promise.all([data, leaf.writeTrailingFooter(newEnd)]);
    if (this.durableMetadata) await leaf.fh.datasync();
    // 2. The BAT entry: from here on the block is part of the image.
    await leaf.writeBatEntry(block, entry);
    leaf.cacheBitmap(block, bm);
    leaf.bat[block] = entry;
    leaf.endSector = newEnd;
    // 3. The batmap hint, when the block is full.
    if (leaf.bitmapIsFull(bm)) this.setBatmapBitLater(leaf, block);
  }

  /**
   * Set a full block's batmap bit off the write's path: the guest's write is complete once the
   * BAT (or the bitmap) finds its sectors, and the bit is only a hint. It is counted as in
   * flight, so close() waits for it. A bit that never reaches the disk (a crash, a failed
   * write) reads as clear, "consult the bitmap", which is always consistent.
   */
  private setBatmapBitLater(leaf: VhdFile, block: number): void {
    void this.track(() => leaf.updateBatmap(block, true)).catch(() => undefined);
  }
}
