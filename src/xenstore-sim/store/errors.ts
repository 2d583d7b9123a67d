import type { XsErrno } from '../wire/messages.js';

/**
 * A request the store refuses, with the errno name the daemon answers (XS_ERROR "ENOENT\0").
 * Thrown inside the store and caught once per request by the server; it is the client's
 * operating error, never a crash.
 */
export class XsStoreError extends Error {
  override name = 'XsStoreError';
  constructor(readonly errno: XsErrno) {
    super(errno);
  }
}

export function fail(errno: XsErrno): never {
  throw new XsStoreError(errno);
}
