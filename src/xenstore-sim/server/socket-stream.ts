import type { Socket } from 'node:net';
import type { ByteStream } from './stream.js';

/** A ByteStream over a connected unix socket (node:net). */
export function socketStream(socket: Socket): ByteStream {
  let closed = false;
  const closeCbs: (() => void)[] = [];
  const finish = (): void => {
    if (closed) return;
    closed = true;
    for (const cb of closeCbs.splice(0)) cb();
  };
  socket.on('close', finish);
  // A reset peer is an ordinary close for us; the 'close' event follows.
  socket.on('error', () => {});
  return {
    write(buf) {
      if (!closed && socket.writable) socket.write(buf);
    },
    onData(cb) {
      socket.on('data', cb);
    },
    onClose(cb) {
      if (closed) queueMicrotask(cb);
      else closeCbs.push(cb);
    },
    close() {
      socket.destroy();
    },
    pendingBytes() {
      return socket.writableLength;
    },
  };
}
