// Imported: the global Buffer is a getter in Node 20, called at every use on the request path.
import { Buffer } from 'node:buffer';
import {
  XENSTORE_PAYLOAD_MAX, XS_HEADER_LEN_OFFSET, XS_HEADER_REQ_ID_OFFSET, XS_HEADER_SIZE,
  XS_HEADER_TX_ID_OFFSET, XS_HEADER_TYPE_OFFSET, type XsPacket,
} from './messages.js';

/** What the parser has next: more bytes needed, one packet, or a framing error (fatal). */
export type XsParseResult =
  | { kind: 'need'; bytes: number }
  | { kind: 'packet'; packet: XsPacket }
  | { kind: 'error'; message: string };

/**
 * An incremental parser for struct xsd_sockmsg frames. Feed chunks with push(), then call
 * next() until it answers 'need'. A header whose len exceeds XENSTORE_PAYLOAD_MAX is an error
 * from which the stream cannot recover (C xenstored closes the connection); after an error
 * next() keeps returning it.
 *
 * Chunks are kept as received; each packet's payload is one Buffer, a view into the chunk when
 * the payload lies inside one chunk, else one copy that joins the pieces. A header inside one
 * chunk is read in place (no view, no copy): this runs for every request and reply.
 */
export class XsFrameParser {
  private readonly chunks: Buffer[] = [];
  /** Bytes of chunks[0] already consumed. */
  private offset = 0;
  private buffered = 0;
  private failure: string | undefined;
  private readonly payloadMax: number;

  constructor(opts: { payloadMax?: number } = {}) {
    this.payloadMax = opts.payloadMax ?? XENSTORE_PAYLOAD_MAX;
  }

  /** Bytes received but not yet returned as packets. */
  get pending(): number {
    return this.buffered;
  }

  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
    if (this.buffered === 0) {
      // Everything before was consumed (skip() keeps the last chunk, fully read): start afresh.
      // With one slot, overwrite it: emptying the array (length = 0) costs a runtime call and
      // the next push a new backing store, for every read.
      if (this.chunks.length === 1) this.chunks[0] = buf;
      else {
        this.chunks.length = 0;
        this.chunks.push(buf);
      }
      this.offset = 0;
    } else {
      this.chunks.push(buf);
    }
    this.buffered += buf.length;
  }

  /**
   * Stop referring to the chunks pushed so far, so that their owner may reuse them: the bytes
   * not yet returned as packets are copied (a partial frame, rarely). Packets already returned
   * may be views into those chunks; they must not be used after the chunk is reused.
   */
  detach(): void {
    if (this.buffered === 0) {
      // Drop the reference without emptying the array (see push()).
      if (this.chunks.length === 1) this.chunks[0] = EMPTY;
      else this.chunks.length = 0;
      this.offset = 0;
      return;
    }
    const rest = this.gather(this.buffered, false);
    this.chunks.length = 0;
    this.chunks.push(rest);
    this.offset = 0;
  }

  /** Forget every byte not yet returned as a packet (a guest's ring was reset under it). */
  reset(): void {
    this.unpush(this.buffered);
    this.detach();
  }

  /**
   * Give back the last `n` bytes pushed and not yet returned as packets: a receiver that
   * stops reading leaves them with the sender (a guest's requests stay in its ring).
   */
  unpush(n: number): void {
    n = Math.min(n, this.buffered);
    this.buffered -= n;
    while (n > 0) {
      const last = this.chunks.length - 1;
      const chunk = this.chunks[last]!;
      const avail = chunk.length - (last === 0 ? this.offset : 0);
      if (n < avail || last === 0) {
        this.chunks[last] = chunk.subarray(0, chunk.length - n);
        return;
      }
      this.chunks.pop();
      n -= avail;
    }
  }

  next(): XsParseResult {
    const packet = this.nextPacket();
    if (packet !== undefined) return { kind: 'packet', packet };
    if (this.failure !== undefined) return { kind: 'error', message: this.failure };
    return { kind: 'need', bytes: this.frameBytes() - this.buffered };
  }

  /** The framing error that stopped the parser, if any (next() returns it as 'error'). */
  get error(): string | undefined {
    return this.failure;
  }

  /**
   * next() without the result wrapper, for a server's per-request loop: the next packet, or
   * undefined when more bytes are needed or after a framing error (then `error` is set).
   */
  nextPacket(): XsPacket | undefined {
    if (this.failure !== undefined || this.buffered < XS_HEADER_SIZE) return undefined;
    let header = this.chunks[0]!;
    let at = this.offset;
    if (header.length - at < XS_HEADER_SIZE) {
      header = this.gather(XS_HEADER_SIZE, false);
      at = 0;
    }
    const len = u32le(header, at + XS_HEADER_LEN_OFFSET);
    if (len > this.payloadMax) {
      this.failure = `payload length ${len} exceeds ${this.payloadMax}`;
      return undefined;
    }
    if (this.buffered < XS_HEADER_SIZE + len) return undefined;
    const type = u32le(header, at + XS_HEADER_TYPE_OFFSET);
    const reqId = u32le(header, at + XS_HEADER_REQ_ID_OFFSET);
    const txId = u32le(header, at + XS_HEADER_TX_ID_OFFSET);
    this.skip(XS_HEADER_SIZE);
    const payload = this.take(len);
    return { type, reqId, txId, payload };
  }

  /** Bytes of the frame being received: the header alone until the header is all here. */
  private frameBytes(): number {
    if (this.buffered < XS_HEADER_SIZE) return XS_HEADER_SIZE;
    const first = this.chunks[0]!;
    const header = first.length - this.offset >= XS_HEADER_SIZE ? first.subarray(this.offset) : this.gather(XS_HEADER_SIZE, false);
    return XS_HEADER_SIZE + u32le(header, XS_HEADER_LEN_OFFSET);
  }

  private take(n: number): Buffer {
    if (n === 0) return EMPTY;
    const first = this.chunks[0]!;
    if (first.length - this.offset >= n) {
      const view = first.subarray(this.offset, this.offset + n);
      this.skip(n);
      return view;
    }
    return this.gather(n, true);
  }

  /** Copy `n` bytes spanning several chunks into one Buffer, consuming them if asked. */
  private gather(n: number, consume: boolean): Buffer {
    const out = Buffer.allocUnsafe(n);
    let copied = 0;
    let index = 0;
    let offset = this.offset;
    while (copied < n) {
      const chunk = this.chunks[index]!;
      const count = Math.min(n - copied, chunk.length - offset);
      chunk.copy(out, copied, offset, offset + count);
      copied += count;
      index += 1;
      offset = 0;
    }
    if (consume) this.skip(n);
    return out;
  }

  private skip(n: number): void {
    this.buffered -= n;
    while (n > 0) {
      const first = this.chunks[0]!;
      const left = first.length - this.offset;
      if (n < left || this.chunks.length === 1) {
        // The last chunk stays, read to its end, until push() replaces it.
        this.offset += n;
        return;
      }
      n -= left;
      this.chunks.shift();
      this.offset = 0;
    }
  }
}

const EMPTY = Buffer.alloc(0);

/** A little-endian u32 at `offset` (the caller has checked the bounds). */
function u32le(buf: Buffer, offset: number): number {
  return (buf[offset]! | (buf[offset + 1]! << 8) | (buf[offset + 2]! << 16) | (buf[offset + 3]! << 24)) >>> 0;
}
