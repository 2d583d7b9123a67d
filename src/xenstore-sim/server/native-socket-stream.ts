import type { StreamSocket, StreamSocketApi } from '../../native/api.js';
import { ClosableStream, type ByteStream } from './stream.js';

/** send(2)'s "socket buffer full", as StreamSocket.write() returns it (-EAGAIN). */
const EAGAIN_NEGATIVE = -11;

/**
 * A ByteStream over a connected socket served by the native addon (StreamSocketApi): a
 * wake-up is one read(2) into `recv` and a write is one send(2), with none of net.Socket's
 * stream machinery in between. `recv` may be shared by every connection of a server: each
 * chunk is handled before the next read (the server copies what it keeps; see
 * XsFrameParser.detach()).
 *
 * Bytes the socket did not take stay queued here, in order, and go out when it becomes
 * writable again; pendingBytes() reports them, as net.Socket's writableLength did.
 */
export class NativeSocketStream extends ClosableStream implements ByteStream {
  private readonly socket: StreamSocket;
  private dataCb: ((chunk: Buffer) => number | void) | undefined;
  /** Unsent bytes: whole buffers, the first one sent up to `queueOffset`. */
  private readonly queue: Uint8Array[] = [];
  private queueOffset = 0;
  private queuedBytes = 0;

  constructor(api: StreamSocketApi, fd: number, private readonly recv: Buffer) {
    super();
    this.socket = api.adopt(fd, recv, (bytes) => this.onRead(bytes), () => this.onWritable());
  }

  write(buf: Uint8Array): void {
    if (this.closed || buf.length === 0) return;
    if (this.queue.length > 0) {
      this.enqueue(buf);
      return;
    }
    const sent = this.socket.write(buf, 0, buf.length);
    if (sent === buf.length) return;
    if (sent < 0 && sent !== EAGAIN_NEGATIVE) {
      this.failLater();
      return;
    }
    this.enqueue(buf);
    this.queueOffset = Math.max(sent, 0);
    this.queuedBytes -= this.queueOffset;
    this.socket.pollWritable(true);
  }

  onData(cb: (chunk: Buffer) => number | void): void {
    this.dataCb = cb;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.close();
    this.queue.length = 0;
    this.queuedBytes = 0;
    this.runCloseCallbacks();
  }

  pendingBytes(): number {
    return this.queuedBytes;
  }

  private enqueue(buf: Uint8Array): void {
    this.queue.push(buf);
    this.queuedBytes += buf.length;
  }

  private onRead(bytes: number): void {
    if (bytes === 0) {
      this.close();
      return;
    }
    this.dataCb?.(this.recv.subarray(0, bytes));
  }

  private onWritable(): void {
    while (this.queue.length > 0 && !this.closed) {
      const first = this.queue[0]!;
      const left = first.length - this.queueOffset;
      const sent = this.socket.write(first, this.queueOffset, left);
      if (sent === EAGAIN_NEGATIVE) return;
      if (sent < 0) {
        this.close();
        return;
      }
      this.queuedBytes -= sent;
      if (sent < left) {
        this.queueOffset += sent;
        return;
      }
      this.queue.shift();
      this.queueOffset = 0;
    }
    if (!this.closed) this.socket.pollWritable(false);
  }

  /**
   * The peer is gone (EPIPE, ECONNRESET): close, but not from inside the caller's write, which
   * may be the server walking its connections.
   */
  private failLater(): void {
    queueMicrotask(() => this.close());
  }
}

/** Bytes read per wake-up: room for many pipelined requests (a frame is at most 4,112 bytes). */
export const RECV_BUFFER_BYTES = 64 * 1024;
