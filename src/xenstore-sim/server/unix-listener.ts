import { createServer, type Server } from 'node:net';
import { renameSync, unlinkSync } from 'node:fs';
import { SplitblkError } from '../../util/errors.js';
import type { XenstoreServer } from './server.js';
import { socketStream } from './socket-stream.js';

/** sizeof(struct sockaddr_un.sun_path) on Linux, including the terminating NUL. */
export const SUN_PATH_BYTES = 108;

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
  // bind() creates the socket file before listen() makes it accept: a client that waits for
  // the file could connect in between and get ECONNREFUSED. Listen under a staging name and
  // rename it into place, so the path appears only once it accepts (when the staging name
  // fits in sun_path; otherwise listen on the path itself).
  const staging = `${path}.${process.pid}`;
  const useStaging = Buffer.byteLength(staging) < SUN_PATH_BYTES;
  const listenPath = useStaging ? staging : path;
  await new Promise<void>((resolve, reject) => {
    net.once('error', (error: NodeJS.ErrnoException) => {
      reject(new SplitblkError('SPLITBLK_ERR_SOCKET', `cannot listen on ${path}: ${error.code ?? error.message}`, { path }, { cause: error }));
    });
    net.listen(listenPath, () => {
      net.removeAllListeners('error');
      resolve();
    });
  });
  if (useStaging) renameSync(staging, path);
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
