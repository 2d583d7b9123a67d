import { SplitblkError } from '../../util/errors.js';
import type { XsWatch, XsWatchEvent } from './api.js';
import { XS_WATCH_OVERFLOW, closedError } from './errors.js';

/** Default bound on events buffered for one watch that nobody is consuming. */
export const WATCH_EVENTS_MAX_DEFAULT = 1024;

/**
 * One registered watch as an async iterator with a bounded buffer. Events queue until the
 * consumer asks for them; when more than `eventsMax` are waiting the watch ends with
 * SPLITBLK_ERR_XS_WATCH_OVERFLOW (and is unregistered) instead of growing without limit.
 * Breaking out of a for-await loop closes the watch.
 */
export class ClientWatch implements XsWatch, AsyncIterator<XsWatchEvent> {
  private readonly queue: XsWatchEvent[] = [];
  private waiter: { resolve(r: IteratorResult<XsWatchEvent>): void; reject(e: Error): void } | undefined;
  private ended = false;
  private failure: Error | undefined;
  private closing: Promise<void> | undefined;

  constructor(
    readonly path: string,
    readonly token: string,
    private readonly eventsMax: number,
    /** Sends UNWATCH and forgets the token; called at most once. */
    private readonly unregister: () => Promise<void>,
  ) {}

  [Symbol.asyncIterator](): AsyncIterator<XsWatchEvent> {
    return this;
  }

  next(): Promise<IteratorResult<XsWatchEvent>> {
    const event = this.queue.shift();
    if (event !== undefined) return Promise.resolve({ done: false, value: event });
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (this.ended) return Promise.resolve({ done: true, value: undefined });
    if (this.waiter !== undefined) {
      return Promise.reject(new Error(`watch ${this.path}: next() called while another next() is pending`));
    }
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  async return(): Promise<IteratorResult<XsWatchEvent>> {
    await this.close();
    return { done: true, value: undefined };
  }

  close(): Promise<void> {
    this.closing ??= this.unregister().catch(() => {
      // UNWATCH may fail because the connection is gone or the daemon already dropped the
      // watch; either way it is no longer registered.
    });
    this.end(undefined);
    return this.closing;
  }

  /** An event from the daemon for this watch's token. */
  deliver(event: XsWatchEvent): void {
    if (this.ended) return;
    if (this.waiter !== undefined) {
      const waiter = this.waiter;
      this.waiter = undefined;
      waiter.resolve({ done: false, value: event });
      return;
    }
    if (this.queue.length >= this.eventsMax) {
      this.queue.length = 0;
      this.end(new SplitblkError(XS_WATCH_OVERFLOW, `watch ${this.path}: more than ${this.eventsMax} events unconsumed`, {
        path: this.path,
        token: this.token,
      }));
      this.closing ??= this.unregister().catch(() => {});
      return;
    }
    this.queue.push(event);
  }

  /** The connection went away: end with an error if it was lost, quietly if closed by us. */
  connectionClosed(byPeer: boolean): void {
    this.closing ??= Promise.resolve();
    this.end(byPeer ? closedError('watch', this.path) : undefined);
  }

  private end(failure: Error | undefined): void {
    if (this.ended) return;
    this.ended = true;
    this.failure = failure;
    const waiter = this.waiter;
    this.waiter = undefined;
    if (waiter === undefined) return;
    if (failure === undefined) waiter.resolve({ done: true, value: undefined });
    else waiter.reject(failure);
  }
}
