import type { ByteStream } from './stream.js';

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

class MemoryStream implements ByteStream {
  peer: MemoryStream | undefined;
  private dataCb: ((chunk: Buffer) => number | void) | undefined;
  private closeCbs: (() => void)[] = [];
  private closed = false;
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

  onClose(cb: () => void): void {
    if (this.closed) queueMicrotask(cb);
    else this.closeCbs.push(cb);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    const peer = this.peer;
    queueMicrotask(() => {
      for (const cb of this.closeCbs.splice(0)) cb();
      peer?.close();
    });
  }

  private deliver(chunk: Buffer): void {
    if (this.closed) return;
    if (this.dataCb === undefined) this.early.push(chunk);
    else this.dataCb(chunk);
  }
}
