import { connect, type Socket } from 'node:net';
import { SplitblkError } from '../../util/errors.js';
import { socketStream } from '../server/socket-stream.js';
import { XsClientImpl, type ClientOptions } from './client.js';

export interface SocketClientOptions extends ClientOptions {
  /**
   * Attempts after a connect() that failed with EAGAIN: the daemon's listen backlog is full (C
   * xenstored listens with a backlog of 1), so a burst of clients must wait their turn.
   */
  connectRetriesMax?: number;
}

const CONNECT_RETRIES_MAX_DEFAULT = 50;
const CONNECT_RETRY_DELAY_MS_MAX = 20;

function connectOnce(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ path });
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.off('error', reject);
      resolve(socket);
    });
  });
}

/**
 * Connect to a xenstored unix socket (C xenstored's XENSTORED_PATH, or `splitblk xenstored
 * --socket`). Socket connections are dom0.
 */
export async function connectSocket(path: string, opts: SocketClientOptions = {}): Promise<XsClientImpl> {
  const retriesMax = opts.connectRetriesMax ?? CONNECT_RETRIES_MAX_DEFAULT;
  for (let attempt = 0; ; attempt++) {
    try {
      return new XsClientImpl(socketStream(await connectOnce(path)), 0, opts);
    } catch (error) {
      const e = error as NodeJS.ErrnoException;
      if (e.code === 'EAGAIN' && attempt < retriesMax) {
        await new Promise((resolve) => setTimeout(resolve, Math.min(attempt + 1, CONNECT_RETRY_DELAY_MS_MAX)));
        continue;
      }
      throw new SplitblkError('SPLITBLK_ERR_XS_CONNECT', `xenstore: cannot connect to ${path}: ${e.code ?? e.message}`, { path, errno: e.errno }, { cause: error });
    }
  }
}
