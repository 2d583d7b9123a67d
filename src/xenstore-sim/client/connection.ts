import { SplitblkError } from '../../util/errors.js';
import { XENSTORE_PAYLOAD_MAX, XsType, xsTypeName, type XsPacket } from '../wire/messages.js';
import { XsFrameParser } from '../wire/parser.js';
import { encodePacket } from '../wire/serializer.js';
import type { ByteStream } from '../server/stream.js';
import { decodeString, decodeWatchEvent } from './codec.js';
import { XS_CLIENT_LIMIT, XsError, closedError, protocolError } from './errors.js';

export interface ConnectionOptions {
  /** Requests awaiting a reply on this connection; one more is refused at once. */
  requestsInFlightMax?: number;
}

const REQUESTS_IN_FLIGHT_MAX_DEFAULT = 1024;

interface Pending {
  type: XsType;
  op: string;
  path: string | undefined;
  resolve(payload: Buffer): void;
  reject(error: Error): void;
}

/**
 * Frames requests onto a ByteStream and pairs replies with requests by req_id, so any number
 * of requests (up to requestsInFlightMax) may be outstanding and replies may come in any order.
 * XS_WATCH_EVENT frames go to `onWatchEvent`. When the stream closes every pending request is
 * rejected with SPLITBLK_ERR_XS_CLOSED.
 */
export class XsConnection {
  private readonly parser = new XsFrameParser();
  private readonly pending = new Map<number, Pending>();
  private readonly requestsInFlightMax: number;
  private nextReqId = 1;
  private closedBy: 'us' | 'peer' | undefined;
  private readonly closeCbs: ((byPeer: boolean) => void)[] = [];
  onWatchEvent: (path: string, token: string) => void = () => {};

  constructor(private readonly stream: ByteStream, opts: ConnectionOptions = {}) {
    this.requestsInFlightMax = opts.requestsInFlightMax ?? REQUESTS_IN_FLIGHT_MAX_DEFAULT;
    stream.onData((chunk) => this.receive(chunk));
    stream.onClose(() => this.closed(this.closedBy ?? 'peer'));
  }

  get isClosed(): boolean {
    return this.closedBy !== undefined;
  }

  /** Run `cb` once when the connection closes; `byPeer` tells a lost connection from close(). */
  onClose(cb: (byPeer: boolean) => void): void {
    if (this.closedBy !== undefined) queueMicrotask(() => cb(this.closedBy === 'peer'));
    else this.closeCbs.push(cb);
  }

  /**
   * Send one request and resolve with the reply payload; an XS_ERROR reply rejects with an
   * XsError naming the errno. `op` and `path` only label errors.
   */
  request(type: XsType, txId: number, payload: Uint8Array, op: string, path?: string): Promise<Buffer> {
    if (this.closedBy !== undefined) return Promise.reject(closedError(op, path));
    if (this.pending.size >= this.requestsInFlightMax) {
      return Promise.reject(new SplitblkError(XS_CLIENT_LIMIT, `xenstore ${op}: ${this.pending.size} requests already in flight`, { op }));
    }
    if (payload.length > XENSTORE_PAYLOAD_MAX) {
      // The daemon would drop the whole connection for this; answer as libxenstore does.
      return Promise.reject(new XsError('E2BIG', op, path));
    }
    const reqId = this.allocReqId();
    return new Promise<Buffer>((resolve, reject) => {
      this.pending.set(reqId, { type, op, path, resolve, reject });
      this.stream.write(encodePacket(type, reqId, txId, payload));
    });
  }

  close(): void {
    if (this.closedBy !== undefined) return;
    this.closedBy = 'us';
    this.stream.close();
    // Streams call onClose asynchronously or not at all once closed by us: settle now.
    this.closed('us');
  }

  /** A u32 req_id not in use, wrapping at 2^32 (skipping 0 keeps ids distinct from libxenstore's). */
  private allocReqId(): number {
    for (;;) {
      const id = this.nextReqId;
      this.nextReqId = this.nextReqId >= 0xffffffff ? 1 : this.nextReqId + 1;
      if (!this.pending.has(id)) return id;
    }
  }

  private receive(chunk: Buffer): void {
    this.parser.push(chunk);
    for (;;) {
      const next = this.parser.next();
      if (next.kind === 'need') return;
      if (next.kind === 'error') {
        this.fail(protocolError(next.message));
        return;
      }
      this.dispatch(next.packet);
      if (this.closedBy !== undefined) return;
    }
  }

  private dispatch(packet: XsPacket): void {
    if (packet.type === XsType.WatchEvent) {
      const event = decodeWatchEvent(packet.payload);
      if (event !== undefined) this.onWatchEvent(event.path, event.token);
      return;
    }
    const pending = this.pending.get(packet.reqId);
    if (pending === undefined) {
      this.fail(protocolError(`reply ${xsTypeName(packet.type) ?? packet.type} with unknown req_id ${packet.reqId}`));
      return;
    }
    this.pending.delete(packet.reqId);
    if (packet.type === XsType.Error) {
      pending.reject(new XsError(decodeString(packet.payload), pending.op, pending.path));
    } else if (packet.type !== pending.type) {
      pending.reject(protocolError(`${pending.op} answered with ${xsTypeName(packet.type) ?? packet.type}`));
    } else {
      // The payload may be a view into a chunk the parser keeps; callers decode it at once.
      pending.resolve(packet.payload);
    }
  }

  /** A broken stream: reject everything with `error` and close. */
  private fail(error: Error): void {
    for (const p of this.pending.values()) p.reject(error);
    this.pending.clear();
    this.closedBy = 'peer';
    this.stream.close();
    this.closed('peer');
  }

  private closed(by: 'us' | 'peer'): void {
    this.closedBy ??= by;
    for (const [, p] of this.pending) p.reject(closedError(p.op, p.path));
    this.pending.clear();
    for (const cb of this.closeCbs.splice(0)) cb(by === 'peer');
  }
}
