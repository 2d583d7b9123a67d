/**
 * The raw surface of build/Release/splitblk.node (native/*.cc). Only src/native/index.ts loads
 * it; the other files here receive it as a parameter and build the NativeApi of ./api.ts on it.
 */

/** A mapping as the addon returns it: the buffer and the handle that unmap() takes. */
export type RawMapping = [buffer: ArrayBuffer, handle: object];

export interface RawDoorbellListener {
  ref(): void;
  unref(): void;
  close(): void;
}

export interface RawStreamSocket {
  write(buf: Uint8Array, offset: number, length: number): number;
  pollWritable(on: boolean): void;
  close(): void;
}

/** Flag added to RawAioContext.submit()'s result (kCompletionsReady in native/aio.cc). */
export const COMPLETIONS_READY = 1 << 16;

export interface RawAioContext {
  readonly engine: 'io_uring' | 'threads';
  readonly submissions: ArrayBuffer;
  readonly iovecs: ArrayBuffer;
  readonly completions: ArrayBuffer;
  registerRegion(buffer: ArrayBuffer): number;
  unregisterRegion(region: number): void;
  /**
   * Returns the entries accepted, plus COMPLETIONS_READY when completions were recorded during
   * the call (I/O that finished inside io_uring_enter, refusals): the wrapper then take()s them
   * in a microtask. Without the flag they arrive through onComplete from the loop.
   */
  submit(count: number): number;
  /** Moves recorded completions into the completion table, frees their slots; returns how many.
   *  Never calls JS. */
  take(): number;
  inFlight(): number;
  ref(): void;
  unref(): void;
  /** Frees everything; only valid with nothing in flight. */
  destroy(): void;
}

export interface RawBinding {
  mapFile(fd: number, offset: number, length: number, writable: boolean): RawMapping;
  mapPages(fd: number, pages: Uint32Array, count: number, writable: boolean): RawMapping;
  unmap(buffer: ArrayBuffer, handle: object): void;
  bufferAddress(buffer: ArrayBuffer): bigint;

  DoorbellListener: new (path: string, onRing: () => void) => RawDoorbellListener;
  bellOpen(path: string): number;
  /** 1 written, 0 already pending (FIFO full), or -errno. */
  ring(fd: number): number;
  closeFd(fd: number): void;
  readonly sigpipeIgnored: boolean;

  StreamSocket: new (fd: number, recv: Uint8Array, onRead: (bytes: number) => void, onWritable: () => void) => RawStreamSocket;

  AioContext: new (
    depthMax: number,
    iovecsMax: number,
    engine: 'auto' | 'io_uring' | 'threads',
    threads: number,
    onComplete: (count: number) => void,
    offloadMinBytes: number,
    offloadInFlightMinBytes: number,
  ) => RawAioContext;
  ioUringAvailable(): boolean;
  /** sizeof the C wire structs and the system page size, checked against api.ts at load. */
  readonly layout: { sqeSize: number; iovSize: number; cqeSize: number; pageSize: number };
}

/** The fields the addon puts on the errors it throws (see native/common.h). */
export interface RawError extends Error {
  code?: string;
  errno?: number;
  syscall?: string;
  path?: string;
}
