import { SplitblkError } from '../../util/errors.js';
import { XsError } from './api.js';

export { XsError };

/** The connection closed (by us or the peer) while a request or watch was outstanding. */
export const XS_CLIENT_CLOSED = 'SPLITBLK_ERR_XS_CLOSED';
/** A watch's event buffer overflowed; the watch was unregistered. */
export const XS_WATCH_OVERFLOW = 'SPLITBLK_ERR_XS_WATCH_OVERFLOW';
/** The daemon sent something the protocol does not allow (wrong reply type, malformed payload). */
export const XS_PROTOCOL = 'SPLITBLK_ERR_XS_PROTOCOL';
/** A large directory kept changing while it was listed in parts. */
export const XS_BUSY = 'SPLITBLK_ERR_XS_BUSY';
/** Too many requests in flight on one connection, or a watch token already in use. */
export const XS_CLIENT_LIMIT = 'SPLITBLK_ERR_XS_LIMIT';

export function closedError(op: string, path?: string): SplitblkError {
  return new SplitblkError(XS_CLIENT_CLOSED, `xenstore ${op}${path === undefined ? '' : ` ${path}`}: connection closed`, {
    op,
    ...(path === undefined ? {} : { path }),
  });
}

export function protocolError(message: string, fields: Record<string, unknown> = {}): SplitblkError {
  return new SplitblkError(XS_PROTOCOL, `xenstore protocol: ${message}`, fields);
}

/** Whether `error` is the daemon's answer `errno` (for example isXsErrno(e, 'ENOENT')). */
export function isXsErrno(error: unknown, errno: string): error is XsError {
  return error instanceof XsError && error.errno === errno;
}
