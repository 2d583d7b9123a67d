/**
 * One VHD file: its metadata parsed through the pure format layer (src/vhd), and the metadata
 * writes the driver makes (bitmap, BAT sector, batmap, footer). Reading and writing guest data
 * is the chain's job (chain-io.ts); this class only knows where things are.
 */
import { open, type FileHandle } from 'node:fs/promises';
import {
  BAT_UNUSED,
  FOOTER_SIZE,
  HEADER_SIZE,
  VHD_SECTOR_SIZE,
  DiskType,
  VhdErrorCode,
  alignedBlockSector,
  batBytes,
  batmapChecksum,
  batmapHeaderOffset,
  batmapSectors,
  bitAllSet,
  bitClear,
  bitSet,
  bitTest,
  bitmapSectors,
  creatorIsTapdisk,
  decodeBat,
  encodeBat,
  encodeBatSector,
  encodeBatmapHeader,
  encodeFooter,
  locatorSpaceBytes,
  parseBatmapHeader,
  parseFooter,
  parseHeader,
  vhdError,
  type BatmapHeader,
  type Footer,
  type Header,
} from '../../../vhd/index.js';
import { SplitblkError } from '../../../util/errors.js';
import { readExact, writeFull } from './iov.js';
import { KeyedMutex } from './keyed-mutex.js';

/** Bitmaps kept in memory per image; beyond this the oldest are dropped (they are on disk). */
export const BITMAP_CACHE_ENTRIES_MAX = 8192;

/** libvhd batmaps exist from creator version 1.2; 1.1 images may carry one. */
const CREATOR_VERSION_BATMAP = 0x0001_0002;
const CREATOR_VERSION_MAYBE_BATMAP = 0x0001_0001;

export interface Batmap {
  headerOffset: number;
  header: BatmapHeader;
  map: Uint8Array;
}

/** Where the footer came from when the image was opened. */
export type FooterSource = 'trailing' | 'copy-at-0';

export class VhdFile {
  readonly kind = 'vhd' as const;
  /** Metadata updates, per block (allocation, bitmap growth, batmap). */
  readonly blockLocks = new KeyedMutex();
  /** Allocation of new blocks moves the end of the file, so it is serialised image-wide. */
  readonly allocLock = new KeyedMutex();
  private readonly batmapLock = new KeyedMutex();
  private readonly bitmaps = new Map<number, Uint8Array>();

  private constructor(
    readonly path: string,
    readonly fh: FileHandle,
    readonly writable: boolean,
    public footer: Footer,
    readonly footerSource: FooterSource,
    readonly fileBytes: number,
    readonly header: Header | undefined,
    readonly bat: Uint32Array,
    public batmap: Batmap | undefined,
    /** First sector past every header, table, locator and block: where the footer belongs. */
    public endSector: number,
  ) {}

  get type(): DiskType {
    return this.footer.diskType;
  }
  get sizeBytes(): number {
    return this.footer.currentSize;
  }
  get sectors(): number {
    return this.footer.currentSize / VHD_SECTOR_SIZE;
  }
  get blockSize(): number {
    return this.header?.blockSize ?? 0;
  }
  get sectorsPerBlock(): number {
    return this.blockSize / VHD_SECTOR_SIZE;
  }
  get bitmapSecs(): number {
    return bitmapSectors(this.sectorsPerBlock);
  }
  get isDynamic(): boolean {
    return this.type !== DiskType.Fixed;
  }

  static async open(path: string, writable: boolean): Promise<VhdFile> {
    let fh: FileHandle;
    try {
      fh = await open(path, writable ? 'r+' : 'r');
    } catch (error) {
      const e = error as NodeJS.ErrnoException;
      if (e.code === 'ENOENT') throw new SplitblkError('SPLITBLK_ERR_NO_SUCH_FILE', `${path}: no such file`, { path });
      throw new SplitblkError('SPLITBLK_ERR_OPEN', `${path}: ${e.message}`, { path, errno: e.errno });
    }
    try {
      return await VhdFile.load(path, fh, writable);
    } catch (error) {
      await fh.close();
      throw error;
    }
  }

  private static async load(path: string, fh: FileHandle, writable: boolean): Promise<VhdFile> {
    const fileBytes = (await fh.stat()).size;
    const { footer, source } = await readFooter(path, fh, fileBytes);
    if (footer.diskType === DiskType.Fixed) {
      const end = footer.currentSize / VHD_SECTOR_SIZE;
      return new VhdFile(path, fh, writable, footer, source, fileBytes, undefined, new Uint32Array(0), undefined, end);
    }
    const hdr = parseHeader(await readExact(fh, HEADER_SIZE, footer.dataOffset!));
    if (!hdr.ok) throw withPath(hdr.error, path);
    const header = hdr.value;
    const entriesNeeded = Math.ceil(footer.currentSize / header.blockSize);
    if (header.maxTableEntries < entriesNeeded) {
      throw vhdError(VhdErrorCode.BadField, `${path}: BAT has ${header.maxTableEntries} entries, the size needs ${entriesNeeded}`, { path });
    }
    if (header.tableOffset + batBytes(header.maxTableEntries) > fileBytes) {
      throw vhdError(VhdErrorCode.Corrupt, `${path}: the BAT (${header.maxTableEntries} entries) runs past the end of the file`, { path });
    }
    const bat = decodeBat(await readExact(fh, batBytes(header.maxTableEntries), header.tableOffset), header.maxTableEntries);
    const vhd = new VhdFile(path, fh, writable, footer, source, fileBytes, header, bat, undefined, 0);
    vhd.batmap = await vhd.readBatmap();
    vhd.endSector = vhd.computeEndSector();
    return vhd;
  }

  /** The batmap when the creator says there is one and it is valid; else undefined. */
  private async readBatmap(): Promise<Batmap | undefined> {
    const f = this.footer;
    if (!creatorIsTapdisk(f) || f.creatorVersion < CREATOR_VERSION_MAYBE_BATMAP) return undefined;
    const h = this.header!;
    const headerOffset = batmapHeaderOffset(h.tableOffset, h.maxTableEntries);
    const parsed = parseBatmapHeader(await readExact(this.fh, VHD_SECTOR_SIZE, headerOffset));
    if (!parsed.ok) return undefined;
    // A map larger than the BAT needs, or past the end of the file, is not a batmap we trust.
    const mapBytes = parsed.value.batmapSize * VHD_SECTOR_SIZE;
    if (parsed.value.batmapSize > batmapSectors(h.maxTableEntries) || parsed.value.batmapOffset + mapBytes > this.fileBytes) return undefined;
    const map = await readExact(this.fh, parsed.value.batmapSize * VHD_SECTOR_SIZE, parsed.value.batmapOffset);
    if (batmapChecksum(map, parsed.value.batmapVersion) !== parsed.value.checksum) {
      // A torn batmap update: the bits are only hints, so start again from "consult the
      // bitmap" (all clear), which is always consistent, and persist that when writable.
      map.fill(0);
      const batmap = { headerOffset, header: { ...parsed.value, checksum: batmapChecksum(map, parsed.value.batmapVersion) }, map };
      if (this.writable) await this.writeBatmapAll(batmap);
      return batmap;
    }
    return { headerOffset, header: parsed.value, map };
  }

  /** Whether a batmap is expected (tapdisk 1.2+ images) even if it failed to read. */
  get expectsBatmap(): boolean {
    return creatorIsTapdisk(this.footer) && this.footer.creatorVersion >= CREATOR_VERSION_BATMAP;
  }

  /** First sector past the header, BAT, batmap and locator data. */
  metadataEndSector(): number {
    const h = this.header!;
    let end = this.footer.dataOffset! + HEADER_SIZE;
    end = Math.max(end, h.tableOffset + batBytes(h.maxTableEntries));
    if (this.batmap) {
      end = Math.max(end, this.batmap.headerOffset + VHD_SECTOR_SIZE);
      end = Math.max(end, this.batmap.header.batmapOffset + this.batmap.header.batmapSize * VHD_SECTOR_SIZE);
    }
    for (const l of h.locators) {
      if (l.code === 0) continue;
      end = Math.max(end, l.dataOffset + (locatorSpaceBytes(l) ?? 0));
    }
    return Math.ceil(end / VHD_SECTOR_SIZE);
  }

  /** First sector past the metadata and every allocated block. */
  computeEndSector(): number {
    let endSec = this.metadataEndSector();
    const span = this.bitmapSecs + this.sectorsPerBlock;
    for (const e of this.bat) if (e !== BAT_UNUSED) endSec = Math.max(endSec, e + span);
    return endSec;
  }

  /** Byte offset of a block's data (after its bitmap). */
  dataOffset(entry: number): number {
    return (entry + this.bitmapSecs) * VHD_SECTOR_SIZE;
  }

  batmapFull(block: number): boolean {
    return this.batmap !== undefined && bitTest(this.batmap.map, block);
  }

  cachedBitmap(block: number): Uint8Array | undefined {
    return this.bitmaps.get(block);
  }

  /** Load (or return cached) the bitmap of an allocated block. Call only under blockLocks(block). */
  async bitmapLocked(block: number): Promise<Uint8Array> {
    const cached = this.bitmaps.get(block);
    if (cached) return cached;
    const bm = await readExact(this.fh, this.bitmapSecs * VHD_SECTOR_SIZE, this.bat[block]! * VHD_SECTOR_SIZE);
    this.cacheBitmap(block, bm);
    return bm;
  }

  /** The bitmap of an allocated block, serialised with that block's metadata updates. */
  bitmap(block: number): Promise<Uint8Array> {
    const cached = this.bitmaps.get(block);
    if (cached) return Promise.resolve(cached);
    return this.blockLocks.run(block, () => this.bitmapLocked(block));
  }

  cacheBitmap(block: number, bm: Uint8Array): void {
    this.bitmaps.delete(block);
    if (this.bitmaps.size >= BITMAP_CACHE_ENTRIES_MAX) {
      const oldest = this.bitmaps.keys().next().value;
      if (oldest !== undefined) this.bitmaps.delete(oldest);
    }
    this.bitmaps.set(block, bm);
  }

  async writeBitmapAt(entry: number, bm: Uint8Array): Promise<void> {
    await writeFull(this.fh, bm, entry * VHD_SECTOR_SIZE);
  }

  /** Write the one BAT sector holding `block`, as if bat[block] were `entry`. */
  async writeBatEntry(block: number, entry: number): Promise<void> {
    const prev = this.bat[block]!;
    this.bat[block] = entry;
    const { offsetInBat, bytes } = encodeBatSector(this.bat, block);
    this.bat[block] = prev;
    await writeFull(this.fh, bytes, this.header!.tableOffset + offsetInBat);
  }

  /** Set or clear a block's batmap bit on disk: the map sector, then the header's checksum. */
  updateBatmap(block: number, full: boolean): Promise<void> {
    // One map sector and one header hold the bits of many blocks: updates go one at a time so
    // the checksum written last matches the map written last.
    return this.batmapLock.run(0, () => this.updateBatmapLocked(block, full));
  }

  private async updateBatmapLocked(block: number, full: boolean): Promise<void> {
    const bm = this.batmap;
    if (!bm || block >= bm.header.batmapSize * VHD_SECTOR_SIZE * 8) return;
    if (bitTest(bm.map, block) === full) return;
    if (full) bitSet(bm.map, block);
    else bitClear(bm.map, block);
    const sector = Math.floor(block / (VHD_SECTOR_SIZE * 8));
    const at = sector * VHD_SECTOR_SIZE;
    await writeFull(this.fh, bm.map.subarray(at, at + VHD_SECTOR_SIZE), bm.header.batmapOffset + at);
    bm.header = { ...bm.header, checksum: batmapChecksum(bm.map, bm.header.batmapVersion) };
    await writeFull(this.fh, encodeBatmapHeader(bm.header), bm.headerOffset);
  }

  /**
   * Write the BAT sectors holding entries [first, last] from the in-memory table, in one write:
   * what a tool that allocated many blocks at once (coalesce) writes after their data.
   */
  async writeBatRange(first: number, last: number): Promise<void> {
    const perSector = VHD_SECTOR_SIZE / 4;
    const from = Math.floor(first / perSector) * VHD_SECTOR_SIZE;
    const to = (Math.floor(last / perSector) + 1) * VHD_SECTOR_SIZE;
    await writeFull(this.fh, encodeBat(this.bat).subarray(from, to), this.header!.tableOffset + from);
  }

  /** Set the batmap bits of many blocks: the changed map sectors in one write, then the header. */
  setBatmapBits(blocks: readonly number[]): Promise<void> {
    return this.batmapLock.run(0, async () => {
      const bm = this.batmap;
      if (!bm) return;
      const bitsMax = bm.header.batmapSize * VHD_SECTOR_SIZE * 8;
      let lo = Infinity;
      let hi = -1;
      for (const b of blocks) {
        if (b >= bitsMax || bitTest(bm.map, b)) continue;
        bitSet(bm.map, b);
        lo = Math.min(lo, b);
        hi = Math.max(hi, b);
      }
      if (hi < 0) return;
      const bitsPerSector = VHD_SECTOR_SIZE * 8;
      const from = Math.floor(lo / bitsPerSector) * VHD_SECTOR_SIZE;
      const to = (Math.floor(hi / bitsPerSector) + 1) * VHD_SECTOR_SIZE;
      await writeFull(this.fh, bm.map.subarray(from, to), bm.header.batmapOffset + from);
      bm.header = { ...bm.header, checksum: batmapChecksum(bm.map, bm.header.batmapVersion) };
      await writeFull(this.fh, encodeBatmapHeader(bm.header), bm.headerOffset);
    });
  }

  async writeBatmapAll(bm: Batmap): Promise<void> {
    await writeFull(this.fh, bm.map, bm.header.batmapOffset);
    await writeFull(this.fh, encodeBatmapHeader(bm.header), bm.headerOffset);
  }

  /** Whether a block's bitmap says every sector is present. */
  bitmapIsFull(bm: Uint8Array): boolean {
    return bitAllSet(bm, 0, this.sectorsPerBlock);
  }

  /** Where the next block goes: data page-aligned past the current end. */
  nextBlockSector(): number {
    return alignedBlockSector(this.endSector, this.bitmapSecs);
  }

  /** Write the trailing footer at `endSector` (for a dynamic disk, the end of its data). */
  async writeTrailingFooter(endSector = this.endSector): Promise<void> {
    await writeFull(this.fh, encodeFooter(this.footer), endSector * VHD_SECTOR_SIZE);
  }

  /**
   * Make the file end with a valid footer right after the data: restores a killed trailing
   * footer from the copy at offset 0 and drops bytes a crashed allocation left past the end.
   * Returns whether anything changed.
   */
  async settleTail(): Promise<boolean> {
    if (!this.isDynamic) return false;
    const want = this.endSector * VHD_SECTOR_SIZE + FOOTER_SIZE;
    const size = (await this.fh.stat()).size;
    if (size === want && this.footerSource === 'trailing') return false;
    await this.writeTrailingFooter();
    await this.fh.truncate(want);
    return true;
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}

async function readFooter(path: string, fh: FileHandle, fileBytes: number): Promise<{ footer: Footer; source: FooterSource }> {
  if (fileBytes < FOOTER_SIZE) throw vhdError(VhdErrorCode.NoFooter, `${path}: too small to be a VHD`, { path });
  const trailing = parseFooter(await readExact(fh, FOOTER_SIZE, fileBytes - FOOTER_SIZE));
  if (trailing.ok) return { footer: trailing.value, source: 'trailing' };
  // A dynamic disk keeps a copy of the footer at offset 0: a crash while the file grew (or a
  // truncated copy) leaves the trailing one missing, and the copy is still authoritative.
  const copy = parseFooter(await readExact(fh, FOOTER_SIZE, 0));
  if (copy.ok && copy.value.diskType !== DiskType.Fixed) return { footer: copy.value, source: 'copy-at-0' };
  throw vhdError(VhdErrorCode.NoFooter, `${path}: no valid VHD footer (${trailing.error.message})`, { path, cause: trailing.error.code });
}

function withPath(e: SplitblkError, path: string): SplitblkError {
  return new SplitblkError(e.code, `${path}: ${e.message}`, { ...e.fields, path });
}
