/**
 * The contract of the native addon (native/*.cc), as the rest of splitblk sees it.
 *
 * This file only declares shapes; `src/native/index.ts` is the one module that loads
 * `build/Release/splitblk.node` and implements these interfaces on top of it. Nothing else in
 * the tree may load the .node file.
 *
 * Three facilities:
 *  - shared memory: files on tmpfs mapped into JS as ArrayBuffers without copying, whole or page
 *    by page (a contiguous view over scattered pages, as Linux gntdev gives a backend);
 *  - doorbells: cross-process wake-ups that arrive through libuv (a FIFO per doorbell, polled by
 *    uv_poll; no thread, no busy loop);
 *  - an async I/O context: vectored reads and writes, fdatasync and fallocate from/to registered
 *    memory regions, off the main thread (io_uring, or a thread pool), submitted through a
 *    preallocated submission table and completed in batches, so the data path allocates nothing
 *    per request.
 */

export const PAGE_SIZE = 4096;

/** A mapping of (part of) a shared-memory file. */
export interface Mapping {
  /** The mapped bytes. Detached (byteLength 0) after close(). */
  readonly buffer: ArrayBuffer;
  /** Whether the pages are mapped PROT_WRITE. */
  readonly writable: boolean;
  /** munmap now. Idempotent. A finalizer unmaps a mapping that was never closed. */
  close(): void;
}

/** A named shared-memory file (on tmpfs) that is open in this process. */
export interface SharedMemoryFile {
  readonly path: string;
  readonly fd: number;
  /** Current size in bytes (fstat). */
  size(): number;
  /** ftruncate to `bytes`. Existing mappings keep their length; map again to see new pages. */
  resize(bytes: number): void;
  /** Map `length` bytes at `offset` (both page-aligned). */
  map(offset: number, length: number, writable: boolean): Mapping;
  /**
   * Map the pages `pages[0..count)` (page indexes into the file) into one contiguous mapping:
   * page i of the result is page pages[i] of the file. Throws a SplitblkError with code
   * SPLITBLK_ERR_MAP if any page lies beyond the file's end.
   */
  mapPages(pages: Uint32Array, count: number, writable: boolean): Mapping;
  /** Close the descriptor. Mappings stay valid until closed. Idempotent. */
  close(): void;
}

export interface SharedMemoryApi {
  /** Create (O_CREAT, and O_EXCL when exclusive) and size a file; mode 0600 unless given. */
  create(path: string, bytes: number, opts?: { exclusive?: boolean; mode?: number }): SharedMemoryFile;
  /** Open an existing file. */
  open(path: string, opts?: { writable?: boolean }): SharedMemoryFile;
}

/**
 * The receiving end of a doorbell: a FIFO at `path` (created if missing), opened O_RDWR |
 * O_NONBLOCK so that it never sees EOF, and watched by uv_poll. Each time it becomes readable the
 * FIFO is drained and `onRing` runs once, however many rings arrived (rings coalesce, like an
 * event channel's pending bit).
 */
export interface Doorbell {
  readonly path: string;
  /** Keep or stop keeping the event loop alive (like a socket's ref/unref). */
  ref(): void;
  unref(): void;
  /** Stop watching, close the FIFO and, when `unlink`, remove it. Idempotent. */
  close(opts?: { unlink?: boolean }): void;
}

/** The sending end of a doorbell: ring() writes one byte with O_NONBLOCK; a full FIFO is fine. */
export interface Bell {
  readonly path: string;
  /** Returns false when the receiver is gone (ENXIO/EPIPE/ENOENT); never throws for that. */
  ring(): boolean;
  close(): void;
}

export interface DoorbellApi {
  listen(path: string, onRing: () => void): Doorbell;
  /** Open the sending end of an existing doorbell; throws SPLITBLK_ERR_NO_DOORBELL if absent. */
  connect(path: string): Bell;
}

/**
 * A connected stream socket (unix or TCP) served straight from uv_poll, for a server that
 * answers many small requests: each wake-up is one read(2) into the receive buffer given at
 * adoption and one call of `onRead`; writes are one send(2) each, made at once. No Buffer is
 * allocated per read and no write request per write (see native/stream_socket.cc).
 */
export interface StreamSocket {
  /**
   * send(2) `length` bytes of `buf` from `offset`, without blocking and without SIGPIPE.
   * Returns the bytes sent (fewer than `length` when the socket buffer filled up), or -errno
   * (-EAGAIN: nothing fitted; -EPIPE: closed). The caller keeps what was not sent and
   * retries from onWritable.
   */
  write(buf: Uint8Array, offset: number, length: number): number;
  /** Call onWritable whenever the socket can take more bytes (on), or stop (off). */
  pollWritable(on: boolean): void;
  /** Stop reading and writing; the peer sees end of file. Idempotent. */
  close(): void;
}

export interface StreamSocketApi {
  /**
   * Serve a duplicate of the connected socket `fd` (the caller closes its own descriptor, e.g.
   * by destroying the net.Socket it came from). `onRead(bytes)` runs for each read with the
   * bytes in `recv[0..bytes)`, which the next read overwrites: consume or copy them before
   * returning. `onRead(0)`: the peer closed or the connection failed; nothing more comes.
   */
  adopt(fd: number, recv: Uint8Array, onRead: (bytes: number) => void, onWritable: () => void): StreamSocket;
}

/** Operation codes of an AIO submission entry (AioSqe.op). */
export const enum AioOp {
  Readv = 0,
  Writev = 1,
  Fdatasync = 2,
  Fsync = 3,
  /** fallocate(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE) over [offset, offset+length). */
  PunchHole = 4,
  /** fallocate(FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE) over [offset, offset+length). */
  ZeroRange = 5,
}

/**
 * Layout of the AIO submission table, an ArrayBuffer shared with the native side. JS fills
 * entries [0, n) and calls submit(n); the native side copies what it needs before submit()
 * returns, so the table can be refilled at once.
 *
 * Submission entry (AIO_SQE_SIZE bytes, little-endian):
 *   0  u8   op            (AioOp)
 *   1  u8   flags         (reserved, 0)
 *   2  u16  iovCount      (Readv/Writev: number of iovec entries)
 *   4  i32  fd
 *   8  u32  userData      (echoed in the completion)
 *   12 u32  iovFirst      (index of the first entry in the iovec table)
 *   16 f64  offset        (bytes; an integer < 2^53)
 *   24 f64  length        (PunchHole/ZeroRange: bytes)
 * Iovec entry (AIO_IOV_SIZE bytes):
 *   0  u32  region        (id from registerRegion)
 *   4  u32  offset        (within the region)
 *   8  u32  length
 *   12 u32  reserved
 * Completion entry (AIO_CQE_SIZE bytes), in the completion table:
 *   0  u32  userData
 *   4  i32  result        (bytes transferred, or -errno)
 */
export const AIO_SQE_SIZE = 32;
export const AIO_IOV_SIZE = 16;
export const AIO_CQE_SIZE = 8;

export interface AioContextOptions {
  /** Maximum in-flight operations (and size of the submission/completion tables). */
  depthMax: number;
  /** Iovec table entries. */
  iovecsMax: number;
  /** 'auto' tries io_uring then falls back to the thread pool. */
  engine?: 'auto' | 'io_uring' | 'threads';
  /** Worker threads for the thread-pool engine. */
  threads?: number;
  /**
   * Offloading large transfers. A read or write normally completes on the event-loop thread
   * when the page cache serves it (inside io_uring_enter, or the thread-pool engine's inline
   * attempt), so its copy runs there, serialised with all the loop's other work. A transfer of
   * at least `offloadMinBytes` (the sum of its iovecs), submitted while the reads and writes in
   * flight, itself included, total at least `offloadInFlightMinBytes`, runs on a worker instead
   * (io_uring: IOSQE_ASYNC, the kernel's io-wq; threads: one of the pool's threads), so that
   * several copies run beside the loop. 0 = never offload. Defaults: 64 KiB and 512 KiB
   * (OFFLOAD_MIN_BYTES_DEFAULT, OFFLOAD_IN_FLIGHT_MIN_BYTES_DEFAULT; docs/native.md says why).
   */
  offloadMinBytes?: number;
  offloadInFlightMinBytes?: number;
}

export interface AioContext {
  readonly engine: 'io_uring' | 'threads';
  /** depthMax * AIO_SQE_SIZE bytes. */
  readonly submissions: ArrayBuffer;
  /** iovecsMax * AIO_IOV_SIZE bytes. */
  readonly iovecs: ArrayBuffer;
  /** depthMax * AIO_CQE_SIZE bytes; valid for the duration of the onComplete call. */
  readonly completions: ArrayBuffer;
  /**
   * Register memory the I/O may read or write (a Mapping's buffer, or any ArrayBuffer). Returns
   * a region id. Iovecs are bounds-checked against the region natively: an out-of-bounds iovec
   * completes with -EFAULT and touches nothing.
   */
  registerRegion(buffer: ArrayBuffer): number;
  unregisterRegion(region: number): void;
  /** Submit entries [0, count) of the submission table. Returns the number accepted. */
  submit(count: number): number;
  /** In-flight operations. */
  inFlight(): number;
  /**
   * Called on the main thread with `count` completions in `completions[0, count)`. Never from
   * inside submit(); operations that finished during submit() (page-cache hits) come in a
   * microtask right after it, the rest from the event loop.
   */
  onComplete: ((count: number) => void) | null;
  /** Keep or stop keeping the event loop alive while idle. */
  ref(): void;
  unref(): void;
  /** Waits for in-flight I/O, then frees everything. */
  close(): Promise<void>;
}

export interface AioApi {
  create(opts: AioContextOptions): AioContext;
  /** Whether io_uring can be set up on this kernel (io_uring_disabled, seccomp, ...). */
  ioUringAvailable(): boolean;
}

export interface NativeApi {
  readonly shm: SharedMemoryApi;
  readonly doorbell: DoorbellApi;
  readonly aio: AioApi;
  readonly streamSocket: StreamSocketApi;
  /** Address of an ArrayBuffer's data, for tests that check zero-copy (same pages). */
  bufferAddress(buffer: ArrayBuffer): bigint;
}
