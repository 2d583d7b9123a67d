import type { XsStore } from '../store/index.js';
import { XS_HEADER_SIZE } from '../wire/messages.js';
import type { DaemonClock } from './clock.js';
import type { Connection } from './connection.js';

/** C's default timeout_watch_event_msec (-w watch-event=20). */
export const WATCH_EVENT_TIMEOUT_MS_DEFAULT = 20_000;

/**
 * C's DEFAULT_BUFFER_SIZE: a reply whose payload is at most this long is queued without a
 * memory-quota check (it may be the error that reports the quota); a longer one answers ENOMEM
 * when it would take the domain to its memory quota.
 */
export const REPLY_UNCHECKED_BYTES_MAX = 16;

/**
 * Our own bound on the frames queued for one guest when the memory quota is off (0), which C
 * does not bound at all: reading stops at this backlog, and watch events beyond
 * `eventQueueBytesMax` are dropped.
 */
const QUEUE_BYTES_MAX_UNLIMITED = 1 << 20;

/**
 * A request counted outstanding until its reply and the watch events it caused on
 * flow-controlled connections have all been written out (C 4.17 keeps the request's buffer
 * referenced by those events: pend.ref.event_cnt).
 */
interface PendingRequest {
  readonly conn: Connection;
  events: number;
  replied: boolean;
}

export interface OutFrame {
  readonly frame: Buffer;
  /** Bytes already in the ring (only the first frame of a queue is ever partly written). */
  sent: number;
  readonly reply: boolean;
  pend: PendingRequest | undefined;
  /** A watch event's payload, for C's duplicate-event check. */
  readonly eventKey: string | undefined;
  /** When a watch event that is still wholly unsent is dropped (C's timeout_msec); 0: never. */
  deadlineMs: number;
}

/** One connection's frames not yet wholly written (C's out_list), first in first out. */
export class OutputQueue {
  private items: (OutFrame | undefined)[] = [];
  private head = 0;
  /** Bytes (headers included) of the queued frames: charged to the domain's memory. */
  bytes = 0;
  /** Queued watch events by payload (C drops an event identical to one still queued). */
  private readonly events = new Map<string, number>();

  get length(): number {
    return this.items.length - this.head;
  }

  hasEvent(key: string): boolean {
    return this.events.has(key);
  }

  push(item: OutFrame): void {
    this.items.push(item);
    this.bytes += item.frame.length;
    if (item.eventKey !== undefined) this.events.set(item.eventKey, (this.events.get(item.eventKey) ?? 0) + 1);
  }

  first(): OutFrame | undefined {
    return this.items[this.head];
  }

  /**
   * C's check_event_timeout(): drop the watch events nothing of which is written yet and whose
   * deadline has passed, from the front up to the first one still in time (deadlines grow
   * along the queue); other frames stay. Returns that one's deadline, or 0 when none is left.
   */
  dropExpired(nowMs: number, dropped: (item: OutFrame) => void): number {
    let next = 0;
    const kept: (OutFrame | undefined)[] = [];
    let i = this.head;
    for (; i < this.items.length; i++) {
      const item = this.items[i]!;
      if (item.deadlineMs !== 0 && item.sent === 0) {
        if (item.deadlineMs > nowMs) {
          next = item.deadlineMs;
          break;
        }
        this.forget(item);
        dropped(item);
        continue;
      }
      kept.push(item);
    }
    if (kept.length !== i - this.head) {
      for (; i < this.items.length; i++) kept.push(this.items[i]);
      this.items = kept;
      this.head = 0;
    }
    return next;
  }

  shift(): OutFrame | undefined {
    const item = this.items[this.head];
    if (item === undefined) return undefined;
    this.items[this.head++] = undefined;
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      // Compact now and then, so that a long backlog drains in linear time.
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    this.forget(item);
    return item;
  }

  /** Take an item that leaves the queue out of the byte count and the event index. */
  private forget(item: OutFrame): void {
    this.bytes -= item.frame.length;
    if (item.eventKey !== undefined) {
      const n = this.events.get(item.eventKey)! - 1;
      if (n === 0) this.events.delete(item.eventKey);
      else this.events.set(item.eventKey, n);
    }
  }
}

export interface GuestOutputsOptions {
  clock: DaemonClock;
  /** C's -w watch-event: how long a queued watch event may wait for ring space; 0: for ever. */
  watchEventTimeoutMs: number;
  trace: (line: string) => void;
}

/**
 * What C 4.17 does with the output of unprivileged connections, and the reading it gates:
 *
 * - Each reply counts as outstanding for its domain until it is written out, and longer than
 *   queued watch events it caused; while the count is at the outstanding quota, or the
 *   domain's memory at its hard quota, the domain's requests are not read (domain_can_read()).
 * - Queued frames are charged to the domain's memory until written out. A reply longer than
 *   REPLY_UNCHECKED_BYTES_MAX that would reach the memory quota is answered ENOMEM; a watch
 *   event that would is dropped, as is one identical to an event still queued (not for "@"
 *   paths).
 *
 * Only a flow-controlled stream (a guest's ring, with writeSome()) ever has a queue; other
 * streams take every frame at once, so their replies are written out as soon as they are made.
 */
export class GuestOutputs {
  /** The unprivileged connection whose request is being handled, and its pending record. */
  private requester: Connection | undefined;
  private pend: PendingRequest | undefined;
  /** Connections whose queues may hold watch events with a deadline. */
  private readonly timed = new Set<Connection>();
  /** The one timer for the earliest deadline, and when it fires. */
  private cancelTimer: (() => void) | undefined;
  private timerAtMs = 0;

  /**
   * `onProgress` runs after queued frames went out or were dropped: held connections may be
   * readable again.
   */
  constructor(private readonly store: XsStore, private readonly onProgress: () => void, private readonly opts: GuestOutputsOptions) {}

  /** C's domain_can_read() for an unprivileged connection: a counter compare on the hot path. */
  canRead(conn: Connection): boolean {
    const quotas = this.store.quotas;
    if (conn.outstanding >= quotas.outstandingMax) return false;
    if (quotas.memoryBytesMax === 0) return conn.queue.bytes < QUEUE_BYTES_MAX_UNLIMITED;
    return !this.store.reachesQuota(conn.domid, 0);
  }

  /** send_reply()'s check: whether a reply of `payloadBytes` must become ENOMEM instead. */
  replyOverQuota(conn: Connection, payloadBytes: number): boolean {
    if (payloadBytes <= REPLY_UNCHECKED_BYTES_MAX) return false;
    return this.store.reachesQuota(conn.domid, XS_HEADER_SIZE + payloadBytes);
  }

  /**
   * The connection whose request is being handled, when it is unprivileged (its replies and
   * the events they cause are counted); undefined between requests and for privileged ones.
   */
  setRequester(conn: Connection | undefined): void {
    this.requester = conn;
    this.pend = undefined;
  }

  /** Queue (or write) the reply to the current request of unprivileged `conn`. */
  sendReply(conn: Connection, frame: Buffer): void {
    const pend = this.requester === conn ? this.pend : undefined;
    conn.outstanding++;
    if (conn.stream.writeSome === undefined) {
      conn.stream.write(frame);
      this.replyDone(conn, pend);
      return;
    }
    if (this.enqueue(conn, frame, true, pend, undefined) === undefined) this.replyDone(conn, pend);
  }

  /** Queue (or write) a watch event for unprivileged `conn`; false when C would drop it. */
  sendEvent(conn: Connection, frame: Buffer): boolean {
    if (this.store.reachesQuota(conn.domid, frame.length)) return false;
    if (conn.stream.writeSome === undefined) {
      conn.stream.write(frame);
      return true;
    }
    const queue = conn.queue;
    let key: string | undefined;
    if (queue.length > 0) {
      key = eventKey(frame);
      if (key !== undefined && queue.hasEvent(key)) return false;
      if (this.store.quotas.memoryBytesMax === 0 && queue.bytes > this.store.quotas.eventQueueBytesMax) return false;
    }
    const item = this.enqueue(conn, frame, false, undefined, key);
    if (item !== undefined && this.requester !== undefined) {
      const pend = (this.pend ??= { conn: this.requester, events: 0, replied: false });
      pend.events++;
      item.pend = pend;
    }
    return true;
  }

  /** Write what fits now (when nothing is queued before it) and queue the rest. */
  private enqueue(conn: Connection, frame: Buffer, reply: boolean, pend: PendingRequest | undefined, key: string | undefined): OutFrame | undefined {
    const queue = conn.queue;
    let sent = 0;
    if (queue.length === 0) {
      sent = conn.stream.writeSome!(frame, 0);
      if (sent === frame.length || conn.closed) return undefined;
    }
    // The key of an event that found the queue empty is made only now that it waits.
    const item: OutFrame = { frame, sent, reply, pend, eventKey: reply ? undefined : key ?? eventKey(frame), deadlineMs: 0 };
    queue.push(item);
    this.store.adjustMemory(conn.domid, frame.length);
    const timeoutMs = this.opts.watchEventTimeoutMs;
    if (!reply && timeoutMs > 0) this.setDeadline(conn, item, this.opts.clock.nowMs() + timeoutMs);
    return item;
  }

  /** A queued event gets its deadline; one timer serves every guest's queue. */
  private setDeadline(conn: Connection, item: OutFrame, deadlineMs: number): void {
    item.deadlineMs = deadlineMs;
    this.timed.add(conn);
    if (this.cancelTimer === undefined || deadlineMs < this.timerAtMs) this.armTimer(deadlineMs);
  }

  private armTimer(atMs: number): void {
    this.cancelTimer?.();
    this.timerAtMs = atMs;
    const clock = this.opts.clock;
    this.cancelTimer = clock.after(Math.max(0, atMs - clock.nowMs()), () => {
      this.cancelTimer = undefined;
      this.expireEvents();
    });
  }

  /** Drop the queued watch events whose time is up (C's check_event_timeout() for each guest). */
  private expireEvents(): void {
    const now = this.opts.clock.nowMs();
    let next = 0;
    let dropped = false;
    for (const conn of this.timed) {
      const due = conn.queue.dropExpired(now, (item) => {
        this.store.adjustMemory(conn.domid, -item.frame.length);
        this.eventDone(item.pend);
        this.opts.trace(`watch event ${JSON.stringify(item.eventKey ?? '')} for conn ${conn.id} dom${conn.domid} timed out`);
        dropped = true;
      });
      if (due === 0) this.timed.delete(conn);
      else if (next === 0 || due < next) next = due;
    }
    if (next !== 0) this.armTimer(next);
    if (dropped) this.onProgress();
  }

  /** Stop the timer (the daemon is closing). */
  close(): void {
    this.cancelTimer?.();
    this.cancelTimer = undefined;
    this.timed.clear();
  }

  /** The ring may have room: write queued frames in order while they fit. */
  pump(conn: Connection): void {
    const queue = conn.queue;
    if (queue.length === 0) return;
    let done = false;
    for (let item = queue.first(); item !== undefined; item = queue.first()) {
      item.sent += conn.stream.writeSome!(item.frame, item.sent);
      if (conn.closed) return;
      if (item.sent < item.frame.length) break;
      queue.shift();
      this.store.adjustMemory(conn.domid, -item.frame.length);
      if (item.reply) this.replyDone(conn, item.pend);
      else this.eventDone(item.pend);
      done = true;
    }
    if (done) this.onProgress();
  }

  /**
   * The connection is gone, or its ring was reset (C's conn_free_buffered_data()): its queue
   * is freed, its queued replies no longer count as outstanding, and requests waiting on its
   * events let go.
   */
  drop(conn: Connection): void {
    this.timed.delete(conn);
    const queue = conn.queue;
    if (queue.length === 0) return;
    for (let item = queue.shift(); item !== undefined; item = queue.shift()) {
      this.store.adjustMemory(conn.domid, -item.frame.length);
      if (item.reply) this.replyDone(conn, item.pend);
      else this.eventDone(item.pend);
    }
    this.onProgress();
  }

  private replyDone(conn: Connection, pend: PendingRequest | undefined): void {
    if (pend !== undefined && pend.events > 0) pend.replied = true;
    else conn.outstanding--;
  }

  private eventDone(pend: PendingRequest | undefined): void {
    if (pend === undefined || --pend.events > 0 || !pend.replied) return;
    pend.replied = false;
    pend.conn.outstanding--;
  }
}

/** A queued event's payload "<path>\0<token>\0" as a key; undefined for "@" paths, which C never drops as duplicates. */
function eventKey(frame: Buffer): string | undefined {
  return frame[XS_HEADER_SIZE] === 0x40 ? undefined : frame.toString('latin1', XS_HEADER_SIZE);
}
