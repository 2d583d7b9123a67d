import { SplitblkError } from '../util/errors.js';
import type { AioApi, AioContext, AioContextOptions } from './api.js';
import { COMPLETIONS_READY, type RawAioContext, type RawBinding } from './binding.js';
import { fromNative } from './errors.js';
import { postMicrotask } from '../util/microtask.js';

/** Worker threads of the thread-pool engine when the caller does not say. */
const threadsDefault = 4;
/**
 * Offloading (AioContextOptions.offloadMinBytes / offloadInFlightMinBytes), measured with the
 * data-path benchmark (docs/native.md). A 64 KiB copy out of the page cache is more than half
 * of the loop thread's cost for the request (≈ 6 µs of ≈ 10 µs at depth), so it is worth a
 * worker once enough are in flight to keep another CPU busy: at 512 KiB (8 such reads, or one
 * 1 MiB read).
 * With fewer in flight, the hand-off to a worker and the extra wake-up of the loop for each
 * completion cost more than the copy they move.
 */
export const OFFLOAD_MIN_BYTES_DEFAULT = 64 * 1024;
export const OFFLOAD_IN_FLIGHT_MIN_BYTES_DEFAULT = 512 * 1024;

/**
 * The async I/O context. The addon owns the tables and does the I/O (native/aio*.cc); this
 * wrapper adds the JS-side lifecycle: close() resolves once the last in-flight operation has
 * been delivered, and no submission is accepted after close() began.
 */
export function createAio(binding: RawBinding): AioApi {
  return {
    create(opts) {
      return new NativeAioContext(binding, opts);
    },
    ioUringAvailable() {
      return binding.ioUringAvailable();
    },
  };
}

class NativeAioContext implements AioContext {
  onComplete: ((count: number) => void) | null = null;
  readonly #raw: RawAioContext;
  /** The native tables; detached (byteLength 0) once the context is closed. */
  readonly submissions: ArrayBuffer;
  readonly iovecs: ArrayBuffer;
  readonly completions: ArrayBuffer;
  #closed: Promise<void> | null = null;
  #resolveClosed: (() => void) | null = null;
  #destroyed = false;
  readonly #takeBound = () => this.#take();

  constructor(binding: RawBinding, opts: AioContextOptions) {
    try {
      this.#raw = new binding.AioContext(
        opts.depthMax,
        opts.iovecsMax,
        opts.engine ?? 'auto',
        opts.threads ?? threadsDefault,
        (count) => this.#deliver(count),
        opts.offloadMinBytes ?? OFFLOAD_MIN_BYTES_DEFAULT,
        opts.offloadInFlightMinBytes ?? OFFLOAD_IN_FLIGHT_MIN_BYTES_DEFAULT,
      );
    } catch (error) {
      throw fromNative(error, 'SPLITBLK_ERR_AIO');
    }
    this.submissions = this.#raw.submissions;
    this.iovecs = this.#raw.iovecs;
    this.completions = this.#raw.completions;
  }

  get engine(): 'io_uring' | 'threads' {
    return this.#raw.engine;
  }

  registerRegion(buffer: ArrayBuffer): number {
    this.#checkOpen();
    try {
      return this.#raw.registerRegion(buffer);
    } catch (error) {
      throw fromNative(error, 'SPLITBLK_ERR_AIO');
    }
  }

  unregisterRegion(region: number): void {
    if (this.#destroyed) return;
    this.#raw.unregisterRegion(region);
  }

  submit(count: number): number {
    this.#checkOpen();
    let result: number;
    try {
      result = this.#raw.submit(count);
    } catch (error) {
      throw fromNative(error, 'SPLITBLK_ERR_AIO');
    }
    if (result < COMPLETIONS_READY) return result;
    // Operations finished during the call (page-cache hits complete inside io_uring_enter):
    // deliver them once the caller's code has run, without waiting for a turn of the loop.
    postMicrotask(this.#takeBound);
    return result - COMPLETIONS_READY;
  }

  #take(): void {
    if (this.#destroyed) return;
    const count = this.#raw.take();
    if (count > 0) this.#deliver(count);
  }

  inFlight(): number {
    return this.#destroyed ? 0 : this.#raw.inFlight();
  }

  ref(): void {
    if (!this.#destroyed) this.#raw.ref();
  }

  unref(): void {
    if (!this.#destroyed) this.#raw.unref();
  }

  close(): Promise<void> {
    if (this.#closed === null) {
      this.#closed = new Promise((resolve) => {
        this.#resolveClosed = resolve;
      });
      this.#finishCloseIfIdle();
    }
    return this.#closed;
  }

  #deliver(count: number): void {
    try {
      this.onComplete?.(count);
    } finally {
      this.#finishCloseIfIdle();
    }
  }

  #finishCloseIfIdle(): void {
    if (this.#resolveClosed === null || this.#destroyed || this.#raw.inFlight() !== 0) return;
    this.#destroyed = true;
    this.#raw.destroy();
    this.#resolveClosed();
    this.#resolveClosed = null;
  }

  #checkOpen(): void {
    if (this.#closed !== null) throw new SplitblkError('SPLITBLK_ERR_CLOSED', 'the AIO context is closed');
  }
}
