import { createServer, type Server, type Socket } from 'node:net';
import { unlinkSync } from 'node:fs';
import { listenUnixAtomically, SUN_PATH_BYTES } from '../../util/unix-listen.js';
import { SplitblkError } from '../../util/errors.js';
import type { StreamSocketApi } from '../../native/api.js';
import type { XenstoreServer } from './server.js';
import { NativeSocketStream, RECV_BUFFER_BYTES } from './native-socket-stream.js';
import { socketStream } from './socket-stream.js';
import type { ByteStream } from './stream.js';

export { SUN_PATH_BYTES };

export interface UnixListener {
  readonly path: string;
  /** Stop listening, close every client and remove the socket file. */
  close(): Promise<void>;
}

export interface ListenUnixOptions {
  /**
   * Serve connections through the native addon's stream sockets (one read(2) and one send(2)
   * per wake-up, no net.Socket stream machinery); without it, through net.Socket.
   */
  sockets?: StreamSocketApi;
}

/**
 * Serve `server` on a unix socket at `path`; every connection is dom0 (privileged), as with
 * C xenstored's socket. A stale socket file is replaced.
 */
export async function listenUnix(server: XenstoreServer, path: string, opts: ListenUnixOptions = {}): Promise<UnixListener> {
  if (Buffer.byteLength(path) >= SUN_PATH_BYTES) {
    throw new SplitblkError('SPLITBLK_ERR_SOCKET_PATH',
      `socket path is ${Buffer.byteLength(path)} bytes; unix sockets allow at most ${SUN_PATH_BYTES - 1}: ${path}`, { path });
  }
  try {
    unlinkSync(path);
  } catch {
    // No stale socket to remove.
  }
  const sockets = opts.sockets;
  // One receive buffer for every connection: each chunk is handled before the next read.
  const recv = sockets === undefined ? undefined : Buffer.alloc(RECV_BUFFER_BYTES);
  // Paused until handed over: with native sockets libuv never reads from the connection.
  const net: Server = createServer({ pauseOnConnect: true }, (socket) => {
    const stream = sockets === undefined ? undefined : adopt(sockets, socket, recv!);
    if (stream !== undefined) {
      server.addConnection(stream, { domid: 0, privileged: true });
      return;
    }
    server.addConnection(socketStream(socket), { domid: 0, privileged: true });
    socket.resume();
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

/**
 * Move an accepted connection to a native stream socket: the addon takes a duplicate of its
 * descriptor, then the net.Socket (never read from) is destroyed, closing the original.
 * Node keeps the descriptor on the internal `_handle` (a Pipe) only; undefined (serve through
 * net.Socket) if it is not there or cannot be taken over.
 */
function adopt(sockets: StreamSocketApi, socket: Socket, recv: Buffer): ByteStream | undefined {
  const fd = (socket as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) return undefined;
  let stream: NativeSocketStream;
  try {
    stream = new NativeSocketStream(sockets, fd, recv);
  } catch {
    // Out of descriptors for the duplicate (EMFILE), say: serve this one through net.Socket.
    return undefined;
  }
  socket.destroy();
  return stream;
}
