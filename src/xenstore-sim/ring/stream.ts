import { ClosableStream, type ByteStream } from '../server/stream.js';
import type { RingDoorbell } from './doorbell.js';
import { XENSTORE_ERROR_RINGIDX, XsRingOffset } from './layout.js';
import { REQ_HALF, RING_CORRUPT, RSP_HALF, XsRingPage, type RingHalf } from './page.js';

/** Which end of the ring a stream is: the guest writes req and reads rsp; the daemon the reverse. */
export type RingEnd = 'guest' | 'daemon';

export interface RingStreamOptions {
  /** Bytes written but not yet in the ring; beyond this the stream closes (the peer stalled). */
  pendingBytesMax?: number;
  /** Ring passes per wake-up before yielding to the event loop, so one busy peer cannot starve others. */
  passesPerWakeMax?: number;
  /** Called once with the reason when the stream closes itself (corrupt indices, stalled peer). */
  onBroken?: (reason: string) => void;
}

const PENDING_BYTES_MAX_DEFAULT = 1 << 20;
const PASSES_PER_WAKE_MAX_DEFAULT = 8;

/**
 * A ByteStream over one end of a xenstore ring page. Outgoing bytes queue until the ring has
 * room; incoming bytes are handed to the receiver as they are consumed. Both directions move
 * whenever the peer rings the doorbell, and we ring it whenever we moved an index.
 *
 * A peer that writes impossible indices (more than a ring apart) breaks the connection: the
 * stream closes and, at the daemon end, sets the page's `error` to XENSTORE_ERROR_RINGIDX, as C
 * xenstored does. No loop here runs more than a fixed number of passes per wake-up.
 */
export class RingByteStream extends ClosableStream implements ByteStream {
  private readonly inHalf: RingHalf;
  private readonly outHalf: RingHalf;
  private readonly pendingBytesMax: number;
  private readonly passesPerWakeMax: number;
  private readonly onBroken: ((reason: string) => void) | undefined;
  private readonly outQueue: Buffer[] = [];
  /** A failure found during a service pass, reported once the pass is done with its input (see failSoon()). */
  private deferred: { xsError: number; reason: string } | undefined;
  /** Bytes of outQueue[0] already in the ring. */
  private outOffset = 0;
  private outBytes = 0;
  private dataCb: ((chunk: Buffer) => number | void) | undefined;
  private writableCb: (() => void) | undefined;
  /** The receiver took only part of a chunk: leave the rest in the ring until resumeInput(). */
  private inputHeld = false;
  /** resumeInput() was called while the receiver ran: a partial take then holds nothing. */
  private resumedInPull = false;
  /** Bytes writeSome() put into the ring during the current service pass (notified at its end). */
  private produced = 0;
  private servicing = false;
  private again = false;
  private immediate: NodeJS.Immediate | undefined;

  constructor(
    private readonly page: XsRingPage,
    private readonly end: RingEnd,
    private readonly doorbell: RingDoorbell,
    opts: RingStreamOptions = {},
  ) {
    super();
    this.inHalf = end === 'guest' ? RSP_HALF : REQ_HALF;
    this.outHalf = end === 'guest' ? REQ_HALF : RSP_HALF;
    this.pendingBytesMax = opts.pendingBytesMax ?? PENDING_BYTES_MAX_DEFAULT;
    this.passesPerWakeMax = opts.passesPerWakeMax ?? PASSES_PER_WAKE_MAX_DEFAULT;
    this.onBroken = opts.onBroken;
    // C xenstored 4.17 leaves server_features alone (0: it advertises neither the reconnection
    // handshake nor XENSTORE_SERVER_FEATURE_ERROR), though it does report a broken ring in
    // `error` (fail() below); so do we.
    doorbell.listen(() => this.service());
  }

  write(buf: Uint8Array): void {
    if (this.closed || buf.length === 0) return;
    if (this.outBytes + buf.length > this.pendingBytesMax) {
      this.fail(`${this.end} ring: peer stalled with ${this.outBytes} bytes queued`, false);
      return;
    }
    this.outQueue.push(Buffer.from(buf));
    this.outBytes += buf.length;
    this.service();
  }

  onData(cb: (chunk: Buffer) => number | void): void {
    this.dataCb = cb;
    // Bytes may have waited in the ring until there was a receiver.
    this.schedule();
  }

  writeSome(buf: Uint8Array, offset: number): number {
    if (this.closed || this.deferred !== undefined || offset >= buf.length) return 0;
    const n = this.page.produce(this.outHalf, buf, offset);
    if (n === RING_CORRUPT) {
      // The receiver answering what it was handed: the request it read stays consumed, as in
      // C, whose readchn() moved req_cons before the reply found rsp[] broken.
      this.failSoon(XENSTORE_ERROR_RINGIDX, `${this.end} ring: corrupt ${this.outHalf.name} indices`);
      return 0;
    }
    if (n > 0) {
      // Inside a service pass the notification goes out once at its end.
      if (this.servicing) this.produced += n;
      else this.doorbell.notify();
    }
    return n;
  }

  onOutputRoom(cb: () => void): void {
    this.writableCb = cb;
  }

  resumeInput(): void {
    if (this.closed) return;
    this.resumedInPull = true;
    if (!this.inputHeld) return;
    this.inputHeld = false;
    if (this.servicing) this.again = true;
    else this.schedule();
  }

  /**
   * C's domain_conn_reset(), at the daemon end: all four indices to 0 (C writes them with
   * plain stores, no barrier or notification: the guest learns of it when it next looks), and
   * what was queued for the ring is gone.
   */
  resetRing(): void {
    if (this.closed) return;
    this.page.storeWord(XsRingOffset.reqCons, 0);
    this.page.storeWord(XsRingOffset.reqProd, 0);
    this.page.storeWord(XsRingOffset.rspCons, 0);
    this.page.storeWord(XsRingOffset.rspProd, 0);
    this.outQueue.length = 0;
    this.outOffset = 0;
    this.outBytes = 0;
    this.inputHeld = false;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.immediate !== undefined) clearImmediate(this.immediate);
    this.outQueue.length = 0;
    this.outBytes = 0;
    this.doorbell.close();
    this.runCloseCallbacks();
  }

  /** Bytes written but not yet consumed by the peer: those still queued plus those in the ring. */
  pendingBytes(): number {
    const inRing = this.closed ? 0 : this.page.fill(this.outHalf);
    return this.outBytes + Math.max(inRing, 0);
  }

  private schedule(): void {
    if (this.closed || this.immediate !== undefined) return;
    this.immediate = setImmediate(() => {
      this.immediate = undefined;
      this.service();
    });
  }

  /** Move bytes both ways until nothing moves, at most passesPerWakeMax passes. */
  private service(): void {
    if (this.closed) return;
    if (this.servicing) {
      // A receiver wrote from inside onData: the running loop picks it up.
      this.again = true;
      return;
    }
    this.servicing = true;
    try {
      let moved = false;
      let pass = 0;
      do {
        this.again = false;
        this.produced = 0;
        const pulled = this.pull();
        if (pulled < 0) return;
        const pushed = this.push();
        if (pushed < 0) return;
        // The peer may have consumed replies: the server's own queue (writeSome) moves on.
        this.writableCb?.();
        if (this.closed) return;
        if (this.deferred !== undefined) {
          this.reportDeferred();
          return;
        }
        const progress = pulled + pushed + this.produced;
        moved ||= progress > 0;
        if (progress === 0 && !this.again) break;
        pass += 1;
      } while (pass < this.passesPerWakeMax && !this.closed);
      if (moved && !this.closed) this.doorbell.notify();
      if (pass >= this.passesPerWakeMax) this.schedule();
    } finally {
      this.servicing = false;
    }
  }

  /**
   * Hand incoming bytes to the receiver and consume what it took; returns the count, or -1
   * when the connection broke.
   */
  private pull(): number {
    if (this.dataCb === undefined || this.inputHeld) return 0;
    const chunk = this.page.peek(this.inHalf);
    if (chunk === RING_CORRUPT) return this.fail(`${this.end} ring: corrupt ${this.inHalf.name} indices`, true);
    if (chunk === null) return 0;
    this.resumedInPull = false;
    const took = this.dataCb(chunk);
    // The receiver may have closed us (and the page may be unmapped by now).
    if (this.closed) return -1;
    let n = chunk.length;
    if (typeof took === 'number' && took < n) {
      n = Math.max(0, Math.floor(took));
      // The rest stays in the ring; a resume that came meanwhile reads it on the next pass.
      if (this.resumedInPull) this.again = true;
      else this.inputHeld = true;
    }
    if (n > 0) this.page.release(this.inHalf, n);
    if (this.deferred !== undefined) return this.reportDeferred();
    return n;
  }

  /**
   * C's ignore_connection(conn, err) at the daemon end: stop serving the guest, set the page's
   * `error` to `xsError` (XENSTORE_ERROR_*) and wake it. From inside the data callback (a
   * protocol error in what the receiver was handed), the bytes it took are consumed first, as
   * C had read them.
   */
  failWith(xsError: number): void {
    if (this.closed) return;
    this.failSoon(xsError, `${this.end} ring: the receiver failed the connection`);
  }

  /**
   * Report `xsError` and close: at once, or, during a service pass, when the pass is done with
   * the input the receiver took (so that it stays consumed).
   */
  private failSoon(xsError: number, reason: string): void {
    if (this.servicing) this.deferred ??= { xsError, reason };
    else this.reportAndClose(xsError, reason);
  }

  private reportDeferred(): -1 {
    const { xsError, reason } = this.deferred!;
    return this.reportAndClose(xsError, reason);
  }

  /** Produce queued bytes; returns the count, or -1 when the connection broke. */
  private push(): number {
    let total = 0;
    while (this.outQueue.length > 0) {
      const head = this.outQueue[0]!;
      const n = this.page.produce(this.outHalf, head, this.outOffset);
      if (n === RING_CORRUPT) return this.fail(`${this.end} ring: corrupt ${this.outHalf.name} indices`, true);
      if (n === 0) break;
      total += n;
      this.outBytes -= n;
      this.outOffset += n;
      if (this.outOffset === head.length) {
        this.outQueue.shift();
        this.outOffset = 0;
      }
    }
    return total;
  }

  private fail(reason: string, badIndex: boolean): -1 {
    if (badIndex) return this.reportAndClose(XENSTORE_ERROR_RINGIDX, reason);
    this.onBroken?.(reason);
    this.close();
    return -1;
  }

  /** The daemon end reports `xsError` in the page's `error` (the guest end has nobody to tell); then close. */
  private reportAndClose(xsError: number, reason: string): -1 {
    this.deferred = undefined;
    if (this.end === 'daemon') {
      this.page.storeWord(XsRingOffset.error, xsError);
      // Let the guest see the error (Linux's xenbus checks it when woken).
      this.doorbell.notify();
    }
    this.onBroken?.(reason);
    this.close();
    return -1;
  }
}

export { XsRingPage };

/** The guest's end: writes requests into req[], reads replies and watch events from rsp[]. */
export class GuestRingStream extends RingByteStream {
  constructor(page: XsRingPage, doorbell: RingDoorbell, opts: RingStreamOptions = {}) {
    super(page, 'guest', doorbell, opts);
  }
}

/**
 * The daemon's end: reads requests from req[], writes replies into rsp[]. It treats the page
 * as hostile: impossible indices close the connection and set `error`.
 */
export class DaemonRingStream extends RingByteStream {
  constructor(page: XsRingPage, doorbell: RingDoorbell, opts: RingStreamOptions = {}) {
    super(page, 'daemon', doorbell, opts);
  }
}
