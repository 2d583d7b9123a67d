/**
 * The ImageDriver over a VHD chain.
 *
 * Two paths. The fast path takes a read or write that lies inside one block whose sectors are
 * all present in the leaf (or any request on a fixed disk) and hands the request's own segment
 * arrays to the native AIO context at the translated file offset: no allocation, no copy, no
 * metadata. Everything else (block crossings, parents, allocation, bitmap growth) goes through
 * ChainIo on views of the request's regions. Bad requests complete with an error status;
 * nothing here throws at the caller.
 */
import {
  SECTOR_SIZE,
  TdOp,
  TdStatus,
  type FileIo,
  type ImageDriver,
  type ImageInfo,
  type RegionTable,
  type TdRequest,
} from '../../api.js';
import { BAT_UNUSED, DiskType, bitAllSet } from '../../../vhd/index.js';
import type { ChainIo } from './chain-io.js';
import type { Iov } from './iov.js';
import { VectoredIo } from '../vectored-io.js';

const EINVAL = 22;
const EIO = 5;
const EROFS = 30;
/** Fast-path requests in flight when the VBD does not say its depth. */
const FAST_DEPTH_DEFAULT = 64;

export interface VhdDriverDeps {
  regions: RegionTable;
  /** Native AIO for the fast path; null to send everything through ChainIo. */
  fileIo?: FileIo | null;
  /** Requests in flight at once (sizes the fast path's per-request state). */
  depthMax?: number;
}

export class VhdDriver implements ImageDriver {
  readonly info: ImageInfo;
  private readonly regions: RegionTable;
  /** The fast path's requests in flight; null when there is no native AIO. */
  private readonly fast: VectoredIo | null;
  /** Requests the fast path served (for tests and stats). */
  fastRequests = 0;

  constructor(
    private readonly io: ChainIo,
    deps: VhdDriverDeps,
    readonly: boolean,
  ) {
    this.regions = deps.regions;
    this.fast = deps.fileIo ? new VectoredIo(deps.fileIo, deps.depthMax ?? FAST_DEPTH_DEFAULT) : null;
    this.info = {
      sectors: io.sectors,
      sectorSize: SECTOR_SIZE,
      physicalSectorSize: SECTOR_SIZE,
      readonly,
      // As qemu's vpc and tapdisk's VHD driver: no discard. Only a discard covering a whole
      // block could free it, and on a differencing disk that would show the parent's older
      // data again. The backend offers feature-discard=0 for this (test/vhd/discard.test.ts).
      discard: false,
      chain: io.layers.map((l) => `${l.kind === 'raw' ? 'raw' : 'vhd'}:${l.path}`),
    };
  }

  queue(req: TdRequest): void {
    switch (req.op) {
      case TdOp.Read:
      case TdOp.Write:
        this.rw(req);
        return;
      case TdOp.Flush:
        this.finish(req, this.io.flush());
        return;
      default:
        req.done(req, TdStatus.NotSupported, 0);
    }
  }

  async close(): Promise<void> {
    await this.fast?.drain();
    await this.io.close();
  }

  private rw(req: TdRequest): void {
    if (req.op === TdOp.Write && this.info.readonly) {
      req.done(req, TdStatus.Error, EROFS);
      return;
    }
    if (req.sector < 0 || req.sector + req.sectors > this.info.sectors || !this.segmentsAddUp(req)) {
      req.done(req, TdStatus.Error, EINVAL);
      return;
    }
    const offset = this.fastOffset(req);
    if (offset >= 0 && !this.fast!.full) {
      this.fastRequests++;
      this.fast!.transfer(req, this.io.leaf.fh.fd, offset);
      return;
    }
    const iov = this.views(req);
    if (iov === undefined) {
      req.done(req, TdStatus.Error, EINVAL);
      return;
    }
    this.finish(req, req.op === TdOp.Read ? this.io.read(req.sector, req.sectors, iov) : this.io.write(req.sector, req.sectors, iov));
  }

  private segmentsAddUp(req: TdRequest): boolean {
    let bytes = 0;
    for (let i = 0; i < req.segments; i++) bytes += req.segLength[i]!;
    return bytes === req.sectors * SECTOR_SIZE;
  }

  /** The leaf's file offset for a request the fast path can take, or -1. */
  private fastOffset(req: TdRequest): number {
    if (this.fast === null) return -1;
    const leaf = this.io.leaf;
    if (leaf.kind !== 'vhd') return -1;
    if (leaf.type === DiskType.Fixed) return req.sector * SECTOR_SIZE;
    const spb = leaf.sectorsPerBlock;
    const block = Math.floor(req.sector / spb);
    const inBlock = req.sector - block * spb;
    if (inBlock + req.sectors > spb) return -1;
    const entry = leaf.bat[block]!;
    if (entry === BAT_UNUSED) return -1;
    if (!leaf.batmapFull(block)) {
      const bm = leaf.cachedBitmap(block);
      if (bm === undefined || !bitAllSet(bm, inBlock, req.sectors)) return -1;
    }
    return leaf.dataOffset(entry) + inBlock * SECTOR_SIZE;
  }

  /** Views of the request's segments, or undefined when one lies outside its region. */
  private views(req: TdRequest): Iov | undefined {
    const iov: Iov = [];
    try {
      for (let i = 0; i < req.segments; i++) {
        const view = this.regions.view(req.segRegion[i]!);
        const off = req.segOffset[i]!;
        const len = req.segLength[i]!;
        if (off + len > view.length) return undefined;
        iov.push(view.subarray(off, off + len));
      }
    } catch {
      return undefined;
    }
    return iov;
  }

  private finish(req: TdRequest, p: Promise<void>): void {
    p.then(
      () => req.done(req, TdStatus.Ok, 0),
      (error: NodeJS.ErrnoException) => req.done(req, TdStatus.Error, typeof error.errno === 'number' ? Math.abs(error.errno) : EIO),
    );
  }
}
