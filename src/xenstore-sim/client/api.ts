/**
 * One xenstore client API over three transports: the unix socket (dom0), a guest's xenstore
 * ring page (acting as that guest), or in-process (a direct call into a Store). blkback, the
 * toolstack verbs and the frontend simulator all use this interface and nothing lower.
 */

/** Permission of one entry: r(ead), w(rite), b(oth), n(one). The first entry names the owner. */
export interface XsPerm {
  domid: number;
  perm: 'n' | 'r' | 'w' | 'b';
}

/** A xenstore error reply, with the errno name the daemon sent (ENOENT, EACCES, EAGAIN, ...). */
export class XsError extends Error {
  override name = 'XsError';
  constructor(readonly errno: string, readonly op: string, readonly path?: string) {
    super(`xenstore ${op}${path === undefined ? '' : ` ${path}`}: ${errno}`);
  }
}

export interface XsWatchEvent {
  path: string;
  token: string;
}

/** A registered watch. Iterate for events; the first is the registration event. */
export interface XsWatch extends AsyncIterable<XsWatchEvent> {
  readonly path: string;
  readonly token: string;
  /** Unregister (UNWATCH) and end the iteration. Idempotent. */
  close(): Promise<void>;
}

/** Operations that can run inside or outside a transaction. */
export interface XsOps {
  read(path: string): Promise<Buffer>;
  /** read() as UTF-8, or undefined when the node does not exist (ENOENT). */
  readString(path: string): Promise<string | undefined>;
  write(path: string, value: string | Uint8Array): Promise<void>;
  mkdir(path: string): Promise<void>;
  rm(path: string): Promise<void>;
  directory(path: string): Promise<string[]>;
  getPerms(path: string): Promise<XsPerm[]>;
  setPerms(path: string, perms: XsPerm[]): Promise<void>;
}

export interface XsClient extends XsOps {
  /** The domain this client acts as (0 on the socket). */
  readonly domid: number;
  watch(path: string, token?: string): Promise<XsWatch>;
  /**
   * Run `fn` in a transaction and commit; on EAGAIN at commit, run it again, at most
   * `retriesMax` times (default 16), then throw the EAGAIN XsError.
   */
  transaction<T>(fn: (tx: XsOps) => Promise<T>, opts?: { retriesMax?: number }): Promise<T>;
  getDomainPath(domid: number): Promise<string>;
  introduce(domid: number, gfn: number, port: number): Promise<void>;
  release(domid: number): Promise<void>;
  isDomainIntroduced(domid: number): Promise<boolean>;
  close(): Promise<void>;
}
