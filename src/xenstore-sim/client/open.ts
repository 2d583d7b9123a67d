import { join } from 'node:path';
import { SplitblkError } from '../../util/errors.js';
import type { SocketClientOptions } from './socket.js';
import type { XsClient } from './api.js';
import { connectSocket } from './socket.js';

export interface OpenXenstoreOptions extends SocketClientOptions {
  /** The daemon's socket, like the real clients' XENSTORED_PATH. */
  socketPath?: string;
  /** The daemon's run directory, like XENSTORED_RUNDIR (the socket is `<rundir>/socket`). */
  xenstoredRundir?: string;
  /** splitblk's run directory (the socket is `<rundir>/xenstored/socket`, as `splitblk up` lays it out). */
  splitblkRundir?: string;
}

/**
 * Open a dom0 connection from explicit options, the first given of socketPath,
 * xenstoredRundir and splitblkRundir. Callers map their environment (XENSTORED_PATH,
 * XENSTORED_RUNDIR, SPLITBLK_RUNDIR) onto these options; nothing here reads process.env.
 */
export function openXenstore(opts: OpenXenstoreOptions): Promise<XsClient> {
  const path = opts.socketPath
    ?? (opts.xenstoredRundir !== undefined ? join(opts.xenstoredRundir, 'socket') : undefined)
    ?? (opts.splitblkRundir !== undefined ? join(opts.splitblkRundir, 'xenstored', 'socket') : undefined);
  if (path === undefined) {
    return Promise.reject(new SplitblkError('SPLITBLK_ERR_XS_CONNECT', 'xenstore: no socket path, xenstored run directory or splitblk run directory given'));
  }
  return connectSocket(path, opts);
}
