// Imported: the global Buffer is a getter in Node 20, called at every use on the request path.
import { Buffer } from 'node:buffer';
import { XsStore, type StoreChange, type XsQuotas } from '../store/index.js';
import { XENSTORE_ERROR_PROTO, XS_HEADER_SIZE, XsType, xsTypeName, type XsPacket } from '../wire/messages.js';
import { encodePacket } from '../wire/serializer.js';
import { controlCommand, type ControlContext, type DomainUsage } from './control.js';
import type { TraceLog } from './trace-log.js';
import { Connection } from './connection.js';
import { handleRequest, type HandlerContext } from './handlers.js';
import { memoryStreamPair } from './memory-stream.js';
import { SYSTEM_CLOCK, type DaemonClock } from './clock.js';
import { GuestOutputs, WATCH_EVENT_TIMEOUT_MS_DEFAULT } from './output-queue.js';
import type { ByteStream, GuestConnector } from './stream.js';
import { fireChange, fireSpecial, WatchTable } from './watches.js';
import { WriteCredits } from './write-credits.js';
import { DomainTable } from './domains.js';

export interface XenstoreServerOptions {
  /** The tree to serve; a fresh one (with `quotas`) when omitted. */
  store?: XsStore;
  quotas?: Partial<XsQuotas>;
  /** How INTRODUCE reaches a guest's ring; without it INTRODUCE records the domain only. */
  guests?: GuestConnector;
  /** One line per request and reply, like C's -T trace file. */
  trace?: (line: string) => void;
  /**
   * The trace file, which XS_CONTROL log / logfile / memreport act on; when given, tracing
   * follows it (on while it is open) and `trace` is ignored.
   */
  log?: TraceLog;
  /** Called with internal errors (bugs) that a request hit; the default prints to stderr. */
  onInternalError?: (error: unknown) => void;
  /**
   * C's -w watch-event=SECONDS, in ms (default WATCH_EVENT_TIMEOUT_MS_DEFAULT): a watch event
   * that waited this long for room in a guest's ring, none of it written yet, is dropped.
   * 0: events wait for ever.
   */
  watchEventTimeoutMs?: number;
  /** Time and timers, for the watch-event timeout and the write rate limit (default SYSTEM_CLOCK). */
  clock?: DaemonClock;
}

const NO_FRAME = Buffer.alloc(0);
const ENOMEM_PAYLOAD = Buffer.from('ENOMEM\0', 'latin1');
/** Bytes we keep from an unprivileged stream without flow control while not reading it. */
const HELD_INPUT_BYTES_MAX = 1 << 20;

/**
 * The xenstored server: transport-agnostic. Each connection is a ByteStream carrying
 * xsd_sockmsg frames; requests run to completion one at a time, replies and watch events go
 * back on the same stream in C xenstored's order.
 */
export class XenstoreServer implements HandlerContext {
  readonly store: XsStore;
  readonly eventQueueBytesMax: number;
  readonly watches = new WatchTable((domid, bytes) => this.store.adjustMemory(domid, bytes));
  private readonly connections = new Set<Connection>();
  private readonly domains: DomainTable;
  private readonly guests: GuestConnector | undefined;
  /** Where trace lines go; undefined when not tracing (then no line is even formatted). */
  private trace: ((line: string) => void) | undefined;
  private readonly log: TraceLog | undefined;
  private readonly controlContext: ControlContext;
  private readonly onInternalError: (error: unknown) => void;
  private nextConnectionId = 1;
  /** Nonzero while handling an incoming chunk: privileged connections' frames wait in their outbox. */
  private batchDepth = 0;
  /** Connections with frames in their outbox, in the order they got the first one. */
  private readonly unflushed: (Connection | undefined)[] = [];
  private unflushedCount = 0;
  readonly sendFrame = (conn: Connection, frame: Buffer): void => this.sendEvent(conn, frame);
  /** Guest output queues and C's outstanding / memory gates on reading guests' requests. */
  private readonly outputs: GuestOutputs;
  /** Unprivileged connections whose requests are not being read (over a quota). */
  private readonly held = new Set<Connection>();
  private retrying = false;
  /** Guests that got watch events during the request being handled (see endRequest()). */
  private readonly guestsWithRecentEvents: Connection[] = [];
  /** C's write rate limit: who pays for writes, and guests held for credit. */
  private readonly credits: WriteCredits;

  constructor(opts: XenstoreServerOptions = {}) {
    this.store = opts.store ?? new XsStore({ quotas: opts.quotas ?? {} });
    const clock = opts.clock ?? SYSTEM_CLOCK;
    this.outputs = new GuestOutputs(this.store, () => {
      if (this.batchDepth === 0) this.retryHeld();
    }, {
      clock,
      watchEventTimeoutMs: opts.watchEventTimeoutMs ?? WATCH_EVENT_TIMEOUT_MS_DEFAULT,
      trace: (line) => this.trace?.(line),
    });
    this.eventQueueBytesMax = this.store.quotas.eventQueueBytesMax;
    this.guests = opts.guests;
    this.log = opts.log;
    this.trace = opts.log === undefined ? opts.trace : undefined;
    this.credits = new WriteCredits(this.store, clock, () => this.retryHeld());
    this.refreshTrace();
    this.controlContext = {
      store: this.store,
      log: this.log,
      trace: (line) => this.trace?.(line),
      domainUsage: (domid) => this.domainUsage(domid),
      memoryReport: () => this.memoryReport(),
    };
    this.onInternalError = opts.onInternalError ?? ((error) => process.stderr.write(`xenstored: internal error: ${(error as Error)?.stack ?? String(error)}\n`));
    this.store.onChange = (change: StoreChange) => fireChange(this.watches, this.store, change, this.eventQueueBytesMax, this.sendFrame);
    this.store.onMemoryWarning = (domid, bytes, above) => this.trace?.(above
      ? `domain ${domid} exceeds the soft memory quota: ${bytes} > ${this.store.quotas.memoryBytesSoftMax} bytes`
      : `domain ${domid} is below the soft memory quota again: ${bytes} bytes`);
    this.domains = new DomainTable({
      store: this.store,
      credits: this.credits,
      guests: this.guests,
      connectGuest: (stream, domid) => this.addConnection(stream, { domid, privileged: false }),
      resetGuest: (conn) => this.resetGuest(conn),
      closeGuest: (conn) => this.closeGuest(conn),
      connections: () => this.connections,
      fireSpecial: (name) => fireSpecial(this.watches, this.store, name, this.eventQueueBytesMax, this.sendFrame),
      trace: (line) => this.trace?.(line),
    });
    this.guests?.onDomainGone?.((domid) => this.domains.gone(domid));
    this.guests?.onDomainShutdown?.((domid) => this.domains.shutdown(domid));
  }

  /** Serve a new connection. Socket connections are `{ domid: 0, privileged: true }`. */
  addConnection(stream: ByteStream, opts: { domid: number; privileged: boolean }): Connection {
    const conn = new Connection(this.nextConnectionId++, stream, opts.domid, opts.privileged);
    this.connections.add(conn);
    stream.onData((chunk) => this.receive(conn, chunk));
    if (!conn.privileged && stream.writeSome !== undefined) stream.onOutputRoom?.(() => this.guestWoke(conn));
    stream.onClose(() => this.dropConnection(conn));
    return conn;
  }

  /**
   * An in-process client: returns the client's end of an in-memory stream pair whose other
   * end is served as `domid` (privileged when domid is 0). The client writes request frames
   * and reads replies and watch events, exactly as over a socket.
   */
  connectInProcess(domid = 0): ByteStream {
    const [client, served] = memoryStreamPair();
    this.addConnection(served, { domid, privileged: domid === 0 });
    return client;
  }

  /** Close every connection (the daemon's shutdown). */
  close(): void {
    this.credits.close();
    for (const conn of [...this.connections]) conn.stream.close();
    this.outputs.close();
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  /** A flow-controlled guest's stream was serviced (the guest notified us, or took replies). */
  private guestWoke(conn: Connection): void {
    this.outputs.pump(conn);
    // Every notification runs a turn of C's main loop, which brings every domain's write
    // credit up to date: a guest held for credit may be read again before its wake-up is due.
    if (conn.inputHeld && this.credits.inDebt(conn) && this.batchDepth === 0) this.retryHeld();
  }

  /** Handle a chunk of `conn`'s bytes; returns how many of them were taken (see ByteStream.onData). */
  private receive(conn: Connection, chunk: Buffer): number {
    if (conn.closed) return chunk.length;
    conn.parser.push(chunk);
    let taken = chunk.length;
    this.batchDepth++;
    try {
      this.handleFrames(conn);
      if (conn.closed && conn.parser.error !== undefined) {
        // A guest's ring failed for a frame too long: C had read that frame's header, no more.
        taken = Math.max(0, Math.min(chunk.length, chunk.length - conn.parser.pending + XS_HEADER_SIZE));
      } else if (conn.inputHeld && conn.stream.resumeInput !== undefined) {
        // Over a quota: the requests not read stay in the guest's ring, as with C.
        const back = Math.min(conn.parser.pending, chunk.length);
        conn.parser.unpush(back);
        taken -= back;
      } else if (conn.inputHeld && conn.parser.pending > HELD_INPUT_BYTES_MAX) {
        // A stream that cannot hold its peer back (not a ring): we keep what it sends while
        // it is over a quota, up to a bound.
        this.trace?.(`conn ${conn.id} dom${conn.domid}: ${conn.parser.pending} bytes unread while over a quota; closing`);
        this.dropConnection(conn);
        conn.stream.close();
      }
    } finally {
      // The stream may reuse the chunk for its next read (NativeSocketStream does).
      conn.parser.detach();
      if (--this.batchDepth === 0) this.flushAndRetry();
    }
    return taken;
  }

  private flushAndRetry(): void {
    this.flush();
    // A request may have lowered a guest's memory or raised a quota (cheap when nobody waits).
    if (this.held.size !== 0) this.retryHeld();
  }

  /** Read again the requests of held guests that are no longer over a quota. */
  private retryHeld(): void {
    if (this.retrying || this.held.size === 0) return;
    this.retrying = true;
    try {
      for (const conn of [...this.held]) {
        if (conn.closed || !this.canRead(conn)) continue;
        this.held.delete(conn);
        conn.inputHeld = false;
        this.batchDepth++;
        try {
          this.handleFrames(conn);
        } finally {
          conn.parser.detach();
          if (--this.batchDepth === 0) this.flush();
        }
        if (!conn.closed && !conn.inputHeld) conn.stream.resumeInput?.();
      }
    } finally {
      this.retrying = false;
    }
  }

  private handleFrames(conn: Connection): void {
    for (;;) {
      // C's domain_can_read(): a guest in write debt, or over its outstanding or memory quota,
      // is not read.
      if (!conn.privileged && !this.canRead(conn)) {
        conn.inputHeld = true;
        this.held.add(conn);
        return;
      }
      const packet = conn.parser.nextPacket();
      if (packet === undefined) {
        const error = conn.parser.error;
        if (error === undefined) return;
        // A length over XENSTORE_PAYLOAD_MAX: C drops the connection, it cannot resync (a
        // guest's: ignore_connection() with XENSTORE_ERROR_PROTO in its page). The replies to
        // the requests before it still go out first.
        this.trace?.(`conn ${conn.id} dom${conn.domid}: ${error}; closing`);
        this.flush();
        this.dropConnection(conn);
        if (conn.stream.failWith !== undefined) conn.stream.failWith(XENSTORE_ERROR_PROTO);
        else conn.stream.close();
        return;
      }
      this.traceIo('IN ', conn, packet.type, packet);
      this.outputs.setRequester(conn.privileged ? undefined : conn);
      this.credits.beginRequest(conn, packet);
      try {
        handleRequest(this, conn, packet, this.replyFn);
      } catch (error) {
        // A bug of ours, not the client's: answer EIO so the client is not left waiting, report
        // it, and keep serving (C xenstored's corrupt() also carries on).
        this.onInternalError(error);
        this.reply(conn, XsType.Error, packet, Buffer.from('EIO\0', 'latin1'));
      }
      this.credits.chargeWrites(conn);
      this.outputs.setRequester(undefined);
      this.endRequest();
      if (conn.closed) return;
    }
  }

  private readonly replyFn = (conn: Connection, type: number, request: XsPacket, payload: Buffer): void => this.reply(conn, type, request, payload);

  private reply(conn: Connection, type: number, request: XsPacket, payload: Buffer): void {
    this.credits.chargeWrites(conn);
    if (!conn.privileged && this.outputs.replyOverQuota(conn, payload.length)) {
      type = XsType.Error;
      payload = ENOMEM_PAYLOAD;
    }
    if (this.trace !== undefined) this.traceIo('OUT', conn, type, { ...request, payload });
    const frame = encodePacket(type, request.reqId, request.txId, payload);
    if (conn.privileged) this.send(conn, frame);
    else this.outputs.sendReply(conn, frame);
  }

  /**
   * A watch event: dropped when it duplicates one not sent yet (C's add_event(); see
   * RecentEvents), then C's rules for guests (memory quota, queued duplicates), batched for dom0.
   */
  private sendEvent(conn: Connection, frame: Buffer): void {
    if (this.batchDepth > 0) {
      const wasEmpty = conn.recentEvents.empty;
      if (conn.recentEvents.duplicate(frame)) {
        conn.eventsDropped++;
        this.traceDroppedDuplicate(conn, frame);
        return;
      }
      // A guest's recent events are those of the current request (see endRequest()).
      if (wasEmpty && !conn.privileged) this.guestsWithRecentEvents.push(conn);
    }
    if (conn.privileged) this.send(conn, frame);
    else if (!this.outputs.sendEvent(conn, frame)) conn.eventsDropped++;
  }

  private traceDroppedDuplicate(conn: Connection, frame: Buffer): void {
    if (this.trace === undefined) return;
    const text = frame.toString('latin1', XS_HEADER_SIZE).replace(/\0/g, ' ').trimEnd();
    this.trace(`dropping duplicate watch event ${JSON.stringify(text)} for conn ${conn.id} dom${conn.domid}`);
  }

  /** A request was handled: the guests' events it made are no longer "not sent yet". */
  private endRequest(): void {
    const list = this.guestsWithRecentEvents;
    for (let i = 0; i < list.length; i++) list[i]!.recentEvents.clear();
    list.length = 0;
  }

  /**
   * Queue one frame for privileged `conn`. While a chunk is being handled, its frames wait in
   * its outbox and go out together at the end (a pipelining client gets all its replies in one
   * write). Unprivileged connections (guests) go through GuestOutputs instead, which writes
   * through or keeps C's per-guest queue, so every quota check sees the guest's whole backlog.
   */
  private send(conn: Connection, frame: Buffer): void {
    if (this.batchDepth === 0) {
      conn.stream.write(frame);
      return;
    }
    if (conn.outboxCount === 0) this.unflushed[this.unflushedCount++] = conn;
    conn.outbox[conn.outboxCount++] = frame;
    conn.outboxBytes += frame.length;
  }

  /** Write every outbox, one buffer per connection. */
  private flush(): void {
    for (let i = 0; i < this.unflushedCount; i++) {
      const conn = this.unflushed[i]!;
      const count = conn.outboxCount;
      if (count === 0) continue;
      let bytes = conn.outbox[0]!;
      if (count > 1) {
        bytes = Buffer.allocUnsafe(conn.outboxBytes);
        let offset = 0;
        for (let f = 0; f < count; f++) {
          bytes.set(conn.outbox[f]!, offset);
          offset += conn.outbox[f]!.length;
        }
      }
      // Slots are reused; drop the references so that sent frames can be collected.
      for (let f = 0; f < count; f++) conn.outbox[f] = NO_FRAME;
      conn.outboxCount = 0;
      conn.outboxBytes = 0;
      conn.recentEvents.clear();
      conn.stream.write(bytes);
    }
    for (let i = 0; i < this.unflushedCount; i++) this.unflushed[i] = undefined;
    this.unflushedCount = 0;
  }

  /** C's domain_can_read() for an unprivileged connection: write credit, outstanding replies, memory. */
  private canRead(conn: Connection): boolean {
    return this.credits.mayRead(conn) && this.outputs.canRead(conn);
  }

  /** HandlerContext: a transaction of `conn` was committed. */
  transactionCommitted(conn: Connection): void {
    this.credits.committed(conn);
  }

  private traceIo(dir: string, conn: Connection, type: number, packet: XsPacket): void {
    if (this.trace === undefined) return;
    const text = packet.payload.toString('latin1').replace(/\0/g, ' ');
    this.trace(`${dir} conn ${conn.id} dom${conn.domid} ${xsTypeName(type) ?? type} (req ${packet.reqId}, tx ${packet.txId}) ${JSON.stringify(text)}`);
  }

  private dropConnection(conn: Connection): void {
    if (conn.closed) return;
    conn.closed = true;
    this.held.delete(conn);
    this.watches.clear(conn);
    this.outputs.drop(conn);
    conn.outboxCount = 0;
    conn.outboxBytes = 0;
    conn.recentEvents.clear();
    this.forgetTransactions(conn);
    this.connections.delete(conn);
    // A guest whose ring broke stays introduced without a connection, as in C (ignore_connection);
    // RELEASE or the connector's onDomainGone removes it.
    this.domains.forgetConnection(conn);
  }

  forgetTransactions(conn: Connection): void {
    for (const tx of conn.transactions.values()) this.store.releaseTransaction(tx);
    conn.transactions.clear();
  }

  // ---- HandlerContext: domains (DomainTable, domains.ts) --------------------------------------

  introduce(domid: number, gfn: number, port: number): void {
    this.domains.introduce(domid, gfn, port);
  }

  release(domid: number): void {
    this.domains.release(domid);
  }

  resume(domid: number): void {
    this.domains.resume(domid);
  }

  setTarget(domid: number, target: number): void {
    this.domains.setTarget(domid, target);
  }

  domainExists(domid: number): boolean {
    return this.domains.exists(domid);
  }

  isIntroduced(domid: number): boolean {
    return this.domains.isIntroduced(domid);
  }

  /**
   * C's domain_conn_reset(): the guest's watches, transactions, queued output and partial
   * input go, and its ring indices start again from 0.
   */
  private resetGuest(conn: Connection): void {
    this.watches.clear(conn);
    this.forgetTransactions(conn);
    this.outputs.drop(conn);
    conn.recentEvents.clear();
    conn.parser.reset();
    conn.stream.resetRing?.();
  }

  /**
   * A released guest's connection. Its watches go first (dropConnection() clears them before
   * anything else), so that the removal of its nodes does not notify it, as in C.
   */
  private closeGuest(conn: Connection): void {
    this.dropConnection(conn);
    conn.stream.close();
  }

  control(args: string[]): Buffer {
    try {
      return controlCommand(args, this.controlContext);
    } finally {
      // log on|off and logfile switch tracing.
      this.refreshTrace();
    }
  }

  private refreshTrace(): void {
    if (this.log !== undefined) this.trace = this.log.isOpen ? this.log.write : undefined;
    this.credits.trace = this.trace;
  }


  /** "quota <domid>": C knows dom0, introduced domains, and domains that hold nodes or memory. */
  private domainUsage(domid: number): DomainUsage | undefined {
    const domain = this.domains.get(domid);
    if (domid !== 0 && domain === undefined && !this.store.accountedDomains().includes(domid)) return undefined;
    const conn = domain?.connection;
    return {
      nodes: this.store.nodesOwnedBy(domid),
      // Socket connections (dom0) belong to no domain: C counts only a guest's own ring.
      watches: conn?.watches.length ?? 0,
      transactions: conn?.transactions.size ?? 0,
      outstanding: conn?.outstanding ?? 0,
      memory: this.store.memoryOf(domid),
    };
  }

  private memoryReport(): string {
    const domids = new Set([0, ...this.domains.domids(), ...this.store.accountedDomains()]);
    const lines = [`splitblk xenstored memory report: ${this.connections.size} connections`];
    for (const domid of [...domids].sort((a, b) => a - b)) {
      const u = this.domainUsage(domid)!;
      lines.push(`domain ${domid}: ${u.nodes} nodes, ${u.watches} watches, ${u.transactions} transactions, ${u.memory} bytes`);
    }
    const heap = process.memoryUsage();
    lines.push(`process: rss ${heap.rss} bytes, heap used ${heap.heapUsed} of ${heap.heapTotal} bytes, external ${heap.external} bytes`);
    return lines.map((l) => `${l}\n`).join('');
  }

  /** Introduced guest domains. */
  introducedDomains(): number[] {
    return this.domains.domids();
  }
}

