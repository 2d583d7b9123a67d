import { createServer, type Server } from 'node:net';
import { unlinkSync } from 'node:fs';
import { listenUnixAtomically, SUN_PATH_BYTES } from '../../util/unix-listen.js';
import { SplitblkError } from '../../util/errors.js';
import type { XenstoreServer } from './server.js';
import { socketStream } from './socket-stream.js';

export { SUN_PATH_BYTES };

export interface UnixListener {
  readonly path: string;
  /** Stop listening, close every client and remove the socket file. */
  close(): Promise<void>;
}

/**
 * Serve `server` on a unix socket at `path`; every connection is dom0 (privileged), as with
 * C xenstored's socket. A stale socket file is replaced.
 */
export async function listenUnix(server: XenstoreServer, path: string): Promise<UnixListener> {
  if (Buffer.byteLength(path) >= SUN_PATH_BYTES) {
    throw new SplitblkError('SPLITBLK_ERR_SOCKET_PATH',
      `socket path is ${Buffer.byteLength(path)} bytes; unix sockets allow at most ${SUN_PATH_BYTES - 1}: ${path}`, { path });
  }
  try {
    unlinkSync(path);
  } catch {
    // No stale socket to remove.
  }
  const net: Server = createServer((socket) => {
    server.addConnection(socketStream(socket), { domid: 0, privileged: true });
  });
  await listenUnixAtomically(net, path).catch((error: NodeJS.ErrnoException) => {
    throw new SplitblkError('SPLITBLK_ERR_SOCKET', `cannot listen on ${path}: ${error.code ?? error.message}`, { path }, { cause: error });
  });
  let closed: Promise<void> | undefined;
  return {
    path,
    close() {
      closed ??= new Promise<void>((resolve) => {
        net.close(() => resolve());
        server.close();
        try {
          unlinkSync(path);
        } catch {
          // Already gone.
        }
      });
      return closed;
    },
  };
}
