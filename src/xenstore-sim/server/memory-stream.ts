import { ClosableStream, type ByteStream } from './stream.js';

/**
 * Two connected in-process ByteStreams: what one side writes, the other receives on the next
 * microtask (never synchronously, so a reply is never delivered inside the request's write).
 */
export function memoryStreamPair(): [ByteStream, ByteStream] {
  const a = new MemoryStream();
  const b = new MemoryStream();
  a.peer = b;
  b.peer = a;
  return [a, b];
}

class MemoryStream extends ClosableStream implements ByteStream {
  peer: MemoryStream | undefined;
  private dataCb: ((chunk: Buffer) => number | void) | undefined;
  /** Chunks that arrived before a receiver was registered. */
  private early: Buffer[] = [];

  write(buf: Uint8Array): void {
    if (this.closed || this.peer === undefined) return;
    const copy = Buffer.from(buf);
    const peer = this.peer;
    queueMicrotask(() => peer.deliver(copy));
  }

  onData(cb: (chunk: Buffer) => number | void): void {
    this.dataCb = cb;
    const early = this.early;
    this.early = [];
    for (const chunk of early) cb(chunk);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    const peer = this.peer;
    queueMicrotask(() => {
      this.runCloseCallbacks();
      peer?.close();
    });
  }

  private deliver(chunk: Buffer): void {
    if (this.closed) return;
    if (this.dataCb === undefined) this.early.push(chunk);
    else this.dataCb(chunk);
  }
}
