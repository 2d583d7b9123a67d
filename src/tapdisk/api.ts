/**
 * The tapdisk core's contracts: the request that blkback hands over, and the image driver
 * interface every format (raw/aio, null, ram, vhd) implements.
 *
 * Zero copy: a request's data segments are (region, offset, length) triples where `region` is
 * the id of a registered native memory region (src/native: AioContext.registerRegion) - in
 * practice a mapping of granted guest pages. The raw driver hands them to the kernel as iovecs;
 * drivers that must look at the bytes (ram, vhd metadata) get views through `RegionTable`.
 */

export type Sector = number; // 512-byte units, integer < 2^53
export const SECTOR_SIZE = 512;

export const enum TdOp {
  Read = 0,
  Write = 1,
  /** Flush the image's cache (BLKIF_OP_FLUSH_DISKCACHE). */
  Flush = 2,
  /** Discard (BLKIF_OP_DISCARD); `secure` asks for secure erase. */
  Discard = 3,
}

/** Status a request completes with; blkback maps it to BLKIF_RSP_*. */
export const enum TdStatus {
  Ok = 0,
  Error = -1, // BLKIF_RSP_ERROR
  NotSupported = -2, // BLKIF_RSP_EOPNOTSUPP
}

/**
 * A request. Pooled: blkback allocates `depthMax` of them at connect time and reuses them;
 * nothing on the data path allocates one per request.
 */
export interface TdRequest {
  op: TdOp;
  sector: Sector;
  sectors: number;
  secure: boolean;
  /** Segment count and parallel arrays of capacity segmentsMax (indirect: up to 4096 bytes each). */
  segments: number;
  segRegion: Uint32Array;
  segOffset: Uint32Array;
  segLength: Uint32Array;
  /** Completion, called exactly once. `status` < 0 is an error; `errno` says why when known. */
  done: (req: TdRequest, status: TdStatus, errno: number) => void;
  /** Opaque to tapdisk; blkback keeps its ring slot/id here. */
  tag: number;
}

/** Resolves region ids to JS views, for drivers that read or write the bytes themselves. */
export interface RegionTable {
  view(region: number): Uint8Array;
}

export interface ImageInfo {
  /** Size in 512-byte sectors. */
  sectors: Sector;
  /** Logical sector size in bytes (512 or 4096). */
  sectorSize: number;
  physicalSectorSize: number;
  readonly: boolean;
  discard: boolean;
  /** Human-readable chain, leaf first, as `type:/path` strings. */
  chain: string[];
}

/**
 * One open image (or chain). Drivers complete requests asynchronously and may complete them in
 * any order; ordering between overlapping requests is the scheduler's job, not the driver's.
 */
export interface ImageDriver {
  readonly info: ImageInfo;
  /** Queue a request. Never throws for a bad request: complete it with an error status. */
  queue(req: TdRequest): void;
  /** Stop and release everything; in-flight requests complete first. */
  close(): Promise<void>;
}

export interface OpenOptions {
  readonly?: boolean;
  direct?: boolean;
}
