import type { Caller, Transaction } from '../store/index.js';
import { XsFrameParser } from '../wire/parser.js';
import type { ByteStream } from './stream.js';
import { OutputQueue } from './output-queue.js';
import { RecentEvents } from './recent-events.js';
import type { WrlCredit } from './write-rate-limit.js';

/** A registered watch: the absolute (or "@") path, the token, and the prefix to strip when the client gave a relative path. */
export interface Watch {
  readonly conn: Connection;
  readonly path: string;
  readonly token: string;
  /** The token as UTF-8, encoded once at registration for every event. */
  readonly tokenBytes: Buffer;
  /** "/local/domain/<id>/" when registered relative, so events go back relative. */
  readonly relativePrefix: string | undefined;
  /** Registration order across connections (see WatchTable). */
  readonly seq: number;
  /**
   * The last event frame sent for this watch and the path it names: a watch on a node that
   * keeps changing (a backend's state node) fires the same frame again and again, and frames
   * are never changed once made, so the same one is sent again.
   */
  lastEventPath: string | undefined;
  lastEventFrame: Buffer | undefined;
}

/** One client connection (socket, guest ring or in-process) and its per-connection state. */
export class Connection implements Caller {
  readonly parser = new XsFrameParser();
  readonly watches: Watch[] = [];
  readonly transactions = new Map<number, Transaction>();
  /** The next transaction id to try (C's next_transaction_id); ids are per connection. */
  nextTransactionId = 1;
  target: number | undefined;
  closed = false;
  /** Watch events dropped: at the guest's memory quota, duplicates of queued ones, or over our backlog bound. */
  eventsDropped = 0;
  /**
   * Frames produced while the server handles one incoming chunk, written as one buffer when
   * it is done (one write system call instead of one per reply and event).
   */
  readonly outbox: Buffer[] = [];
  /** Watch events made for this connection and not sent yet, for C's duplicate check. */
  readonly recentEvents = new RecentEvents();
  /** Frames in `outbox` (slots past it are stale: reused, never read). */
  outboxCount = 0;
  outboxBytes = 0;
  /**
   * For an unprivileged connection: replies queued but not yet wholly written out, plus
   * answered requests whose watch events to flow-controlled connections are still queued (C's
   * domain->nboutstanding). At the outstanding quota its requests are not read.
   */
  outstanding = 0;
  /** Set when the server stopped reading this connection's requests (C's domain_can_read() false). */
  inputHeld = false;
  /** Frames for a flow-controlled stream (a guest's ring) not yet wholly in it: C's out_list. */
  readonly queue = new OutputQueue();
  /**
   * The write credit of the introduced guest this connection serves (C's conn->domain); sockets
   * and in-process connections have none and are never rate limited, as in C.
   */
  wrl: WrlCredit | undefined = undefined;

  constructor(
    readonly id: number,
    readonly stream: ByteStream,
    readonly domid: number,
    readonly privileged: boolean,
  ) {}

  /** A fresh transaction id: the next unused one, never 0. */
  allocTransactionId(): number {
    for (;;) {
      const id = this.nextTransactionId >>> 0;
      this.nextTransactionId = (this.nextTransactionId + 1) >>> 0;
      if (id !== 0 && !this.transactions.has(id)) return id;
    }
  }
}
