import { XsStore, type StoreChange, type XsQuotas } from '../store/index.js';
import { fail } from '../store/errors.js';
import { XS_INTRODUCE_DOMAIN_PATH, XS_RELEASE_DOMAIN_PATH, XsType, xsTypeName, type XsPacket } from '../wire/messages.js';
import { encodePacket } from '../wire/serializer.js';
import { controlCommand } from './control.js';
import { Connection } from './connection.js';
import { handleRequest, type HandlerContext } from './handlers.js';
import { memoryStreamPair } from './memory-stream.js';
import type { ByteStream, GuestConnector } from './stream.js';
import { fireChange, fireSpecial, WatchTable } from './watches.js';

export interface XenstoreServerOptions {
  /** The tree to serve; a fresh one (with `quotas`) when omitted. */
  store?: XsStore;
  quotas?: Partial<XsQuotas>;
  /** How INTRODUCE reaches a guest's ring; without it INTRODUCE records the domain only. */
  guests?: GuestConnector;
  /** One line per request and reply, like C's -T trace file. */
  trace?: (line: string) => void;
  /** Called with internal errors (bugs) that a request hit; the default prints to stderr. */
  onInternalError?: (error: unknown) => void;
}

const NO_FRAME = Buffer.alloc(0);

interface Domain {
  domid: number;
  port: number;
  gfn: number;
  connection: Connection | undefined;
  target: number | undefined;
}

/**
 * The xenstored server: transport-agnostic. Each connection is a ByteStream carrying
 * xsd_sockmsg frames; requests run to completion one at a time, replies and watch events go
 * back on the same stream in C xenstored's order.
 */
export class XenstoreServer implements HandlerContext {
  readonly store: XsStore;
  readonly eventQueueBytesMax: number;
  readonly watches = new WatchTable();
  private readonly connections = new Set<Connection>();
  private readonly domains = new Map<number, Domain>();
  private readonly guests: GuestConnector | undefined;
  private readonly trace: ((line: string) => void) | undefined;
  private readonly onInternalError: (error: unknown) => void;
  private nextConnectionId = 1;
  /** Nonzero while handling an incoming chunk: privileged connections' frames wait in their outbox. */
  private batchDepth = 0;
  /** Connections with frames in their outbox, in the order they got the first one. */
  private readonly unflushed: (Connection | undefined)[] = [];
  private unflushedCount = 0;
  readonly sendFrame = (conn: Connection, frame: Buffer): void => this.send(conn, frame);

  constructor(opts: XenstoreServerOptions = {}) {
    this.store = opts.store ?? new XsStore({ quotas: opts.quotas ?? {} });
    this.eventQueueBytesMax = this.store.quotas.eventQueueBytesMax;
    this.guests = opts.guests;
    this.trace = opts.trace;
    this.onInternalError = opts.onInternalError ?? ((error) => process.stderr.write(`xenstored: internal error: ${(error as Error)?.stack ?? String(error)}\n`));
    this.store.onChange = (change: StoreChange) => fireChange(this.watches, this.store, change, this.eventQueueBytesMax, this.sendFrame);
    this.guests?.onDomainGone?.((domid) => {
      if (this.domains.has(domid)) this.releaseDomain(domid);
    });
  }

  /** Serve a new connection. Socket connections are `{ domid: 0, privileged: true }`. */
  addConnection(stream: ByteStream, opts: { domid: number; privileged: boolean }): Connection {
    const conn = new Connection(this.nextConnectionId++, stream, opts.domid, opts.privileged);
    this.connections.add(conn);
    stream.onData((chunk) => this.receive(conn, chunk));
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
    for (const conn of [...this.connections]) conn.stream.close();
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  private receive(conn: Connection, chunk: Buffer): void {
    if (conn.closed) return;
    conn.parser.push(chunk);
    this.batchDepth++;
    try {
      this.handleFrames(conn);
    } finally {
      if (--this.batchDepth === 0) this.flush();
    }
  }

  private handleFrames(conn: Connection): void {
    for (;;) {
      const next = conn.parser.next();
      if (next.kind === 'need') return;
      if (next.kind === 'error') {
        // A length over XENSTORE_PAYLOAD_MAX: C drops the connection, it cannot resync. The
        // replies to the requests before it still go out first.
        this.trace?.(`conn ${conn.id} dom${conn.domid}: ${next.message}; closing`);
        this.flush();
        this.dropConnection(conn);
        conn.stream.close();
        return;
      }
      this.traceIo('IN ', conn, next.packet.type, next.packet);
      try {
        handleRequest(this, conn, next.packet, this.replyFn);
      } catch (error) {
        // A bug of ours, not the client's: answer EIO so the client is not left waiting, report
        // it, and keep serving (C xenstored's corrupt() also carries on).
        this.onInternalError(error);
        this.reply(conn, XsType.Error, next.packet, Buffer.from('EIO\0', 'latin1'));
      }
      if (conn.closed) return;
    }
  }

  private readonly replyFn = (conn: Connection, type: number, request: XsPacket, payload: Buffer): void => this.reply(conn, type, request, payload);

  private reply(conn: Connection, type: number, request: XsPacket, payload: Buffer): void {
    if (this.trace !== undefined) this.traceIo('OUT', conn, type, { ...request, payload });
    this.send(conn, encodePacket(type, request.reqId, request.txId, payload));
  }

  /**
   * Queue one frame for `conn`. While a chunk is being handled, a privileged connection's
   * frames wait in its outbox and go out together at the end (a pipelining client gets all
   * its replies in one write). Unprivileged connections (guests) write through, so that the
   * event-queue quota check (XSA-349) sees their whole backlog at every event, as before.
   */
  private send(conn: Connection, frame: Buffer): void {
    if (this.batchDepth === 0 || !conn.privileged) {
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
      conn.stream.write(bytes);
    }
    for (let i = 0; i < this.unflushedCount; i++) this.unflushed[i] = undefined;
    this.unflushedCount = 0;
  }

  private traceIo(dir: string, conn: Connection, type: number, packet: XsPacket): void {
    if (this.trace === undefined) return;
    const text = packet.payload.toString('latin1').replace(/\0/g, ' ');
    this.trace(`${dir} conn ${conn.id} dom${conn.domid} ${xsTypeName(type) ?? type} (req ${packet.reqId}, tx ${packet.txId}) ${JSON.stringify(text)}`);
  }

  private dropConnection(conn: Connection): void {
    if (conn.closed) return;
    conn.closed = true;
    this.watches.clear(conn);
    conn.outboxCount = 0;
    conn.outboxBytes = 0;
    conn.transactions.clear();
    this.connections.delete(conn);
    // A guest whose ring broke stays introduced without a connection, as in C (ignore_connection);
    // RELEASE or the connector's onDomainGone removes it.
    for (const domain of this.domains.values()) {
      if (domain.connection === conn) domain.connection = undefined;
    }
  }

  // ---- HandlerContext: domains ----------------------------------------------------------------

  introduce(domid: number, gfn: number, port: number): void {
    if (domid === 0) return;
    const existing = this.domains.get(domid);
    if (existing !== undefined) {
      // Re-introduction (e.g. after resume) keeps the ring but forgets watches and transactions.
      existing.port = port;
      if (existing.connection !== undefined) {
        this.watches.clear(existing.connection);
        existing.connection.transactions.clear();
      }
      return;
    }
    let connection: Connection | undefined;
    if (this.guests !== undefined) {
      let stream: ByteStream;
      try {
        stream = this.guests.connect(domid, gfn, port);
      } catch (error) {
        this.trace?.(`introduce dom${domid}: ${(error as Error).message}`);
        fail('EINVAL');
      }
      connection = this.addConnection(stream, { domid, privileged: false });
    }
    this.domains.set(domid, { domid, port, gfn, connection, target: undefined });
    fireSpecial(this.watches, this.store, XS_INTRODUCE_DOMAIN_PATH, this.eventQueueBytesMax, this.sendFrame);
  }

  release(domid: number): void {
    const domain = this.domains.get(domid);
    if (domain === undefined) fail('ENOENT');
    this.releaseDomain(domid);
  }

  private releaseDomain(domid: number): void {
    const domain = this.domains.get(domid);
    if (domain === undefined) return;
    this.domains.delete(domid);
    const conn = domain.connection;
    if (conn !== undefined && !conn.closed) {
      // C drops the guest's watches first so the removal of its nodes does not notify it.
      this.watches.clear(conn);
      this.dropConnection(conn);
      conn.stream.close();
    }
    for (const other of this.connections) if (other.target === domid) other.target = undefined;
    this.store.releaseDomain(domid);
    fireSpecial(this.watches, this.store, XS_RELEASE_DOMAIN_PATH, this.eventQueueBytesMax, this.sendFrame);
  }

  resume(domid: number): void {
    if (!this.domains.has(domid)) fail('ENOENT');
  }

  setTarget(domid: number, target: number): void {
    const domain = this.domains.get(domid);
    if (domain === undefined) fail('ENOENT');
    if (target !== 0 && !this.domains.has(target)) fail('ENOENT');
    domain.target = target;
    if (domain.connection !== undefined) domain.connection.target = target;
  }

  isIntroduced(domid: number): boolean {
    return domid === 0 || this.domains.has(domid);
  }

  control(args: string[]): Buffer {
    return controlCommand(args, { store: this.store, trace: this.trace });
  }

  /** Introduced guest domains. */
  introducedDomains(): number[] {
    return [...this.domains.keys()];
  }
}

