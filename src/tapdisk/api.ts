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
  /**
   * True when queue() always completes the request before it returns (the memory drivers null:
   * and ram:). The VBD then hands the driver one request at a time in queue order, so no two of
   * its operations ever overlap, and skips merge planning, which buys nothing when an operation
   * costs no system call. Absent means false.
   */
  readonly synchronous?: boolean;
  /** Queue a request. Never throws for a bad request: complete it with an error status. */
  queue(req: TdRequest): void;
  /** Stop and release everything; in-flight requests complete first. */
  close(): Promise<void>;
}

export interface OpenOptions {
  readonly?: boolean;
  direct?: boolean;
}

/*
 * Additions for drivers (additive to the contract above): how the registry hands a driver its
 * parsed `type:/path` spec and the process resources it may use.
 */

/** A parsed `type:/path[?key=value&...]` image spec. */
export interface DiskSpec {
  /** The text as given, e.g. `aio:/srv/disk.img`. */
  readonly text: string;
  /** The driver type, e.g. `aio`, `raw`, `null`, `ram`, `vhd`. */
  readonly type: string;
  /** Everything after `type:` up to `?` (a file path, or a size for `null:` / `ram:`). */
  readonly path: string;
  /** The `?key=value&...` parameters, if any. */
  readonly params: Readonly<Record<string, string>>;
}

/** Counts every byte a driver moves between guest memory and elsewhere with the CPU. */
export interface CopyCounter {
  bytesCopied: number;
}

/** Receives the completion of one file operation; `token` is the caller's, echoed back. */
export interface FileIoSink {
  /** `result` is bytes transferred (>= 0) or -errno. */
  fileIoDone(token: number, result: number): void;
}

/**
 * Batched, vectored file I/O on registered memory regions (the native AioContext behind a
 * queue). Iovecs are (region, offset, length) triples read from parallel arrays, entries
 * [first, first + count); count is at most FileIo.iovecsPerOpMax. Operations submitted in one
 * tick go to the kernel in one batch. Never throws for I/O failures: the sink gets -errno.
 */
export interface FileIo {
  readonly iovecsPerOpMax: number;
  readv(fd: number, offset: number, regions: Uint32Array, offsets: Uint32Array, lengths: Uint32Array,
    first: number, count: number, sink: FileIoSink, token: number): void;
  writev(fd: number, offset: number, regions: Uint32Array, offsets: Uint32Array, lengths: Uint32Array,
    first: number, count: number, sink: FileIoSink, token: number): void;
  fdatasync(fd: number, sink: FileIoSink, token: number): void;
  /** fallocate(PUNCH_HOLE | KEEP_SIZE). */
  punchHole(fd: number, offset: number, length: number, sink: FileIoSink, token: number): void;
  /** fallocate(ZERO_RANGE | KEEP_SIZE). */
  zeroRange(fd: number, offset: number, length: number, sink: FileIoSink, token: number): void;
}

/** Memory a driver may register for its own I/O (metadata buffers, bounce buffers). */
export interface RegionRegistry extends RegionTable {
  register(buffer: ArrayBuffer): number;
  unregister(region: number): void;
}

/** What a driver gets from the tapdisk process it runs in. */
export interface DriverEnv {
  readonly regions: RegionRegistry;
  /** Native file I/O; null when this process has no AIO context (file drivers then refuse). */
  readonly io: FileIo | null;
  /** This VBD's counter of CPU-copied bytes. */
  readonly copies: CopyCounter;
  /** Requests the VBD may have in flight at once (size per-request state for this many). */
  readonly depthMax: number;
  /** Per-process storage drivers may keep across opens (the ram driver keeps its images here,
   *  keyed by spec, so pause/unpause and reopen see the same bytes). */
  readonly store: Map<string, unknown>;
  /** Open another image through the registry (a parent in a chain). */
  openImage(spec: string, opts: OpenOptions): Promise<ImageDriver>;
}

/** What a driver module exports as `driver` (see src/tapdisk/registry.ts). */
export interface DriverFactory {
  open(spec: DiskSpec, opts: OpenOptions, env: DriverEnv): Promise<ImageDriver>;
}
