import { SplitblkError } from '../../util/errors.js';
import { XsType } from '../wire/messages.js';
import { nulSeparated, nulTerminated, splitNul } from '../wire/serializer.js';
import type { ByteStream } from '../server/stream.js';
import type { XsClient, XsOps, XsPerm, XsWatch } from './api.js';
import { decodeBool, decodeDirectoryPart, decodePerms, decodeString, decodeU32, formatPerm } from './codec.js';
import { XsConnection, type ConnectionOptions } from './connection.js';
import { XS_BUSY, XS_CLIENT_LIMIT, isXsErrno, protocolError } from './errors.js';
import { runTransaction } from './transaction.js';
import { ClientWatch, WATCH_EVENTS_MAX_DEFAULT } from './watch.js';

export interface ClientOptions extends ConnectionOptions {
  /** Events buffered per watch before it ends with SPLITBLK_ERR_XS_WATCH_OVERFLOW. */
  watchEventsMax?: number;
  /** Default for transaction()'s retriesMax. */
  transactionRetriesMax?: number;
  /** DIRECTORY_PART rounds before giving up on a directory that keeps changing (EAGAIN). */
  directoryPartRestartsMax?: number;
}

const TRANSACTION_RETRIES_MAX_DEFAULT = 16;
const DIRECTORY_PART_RESTARTS_MAX_DEFAULT = 8;
/** Parts per DIRECTORY_PART listing: 65536 children of up to 2 KiB names fit well within it. */
const DIRECTORY_PARTS_MAX = 1 << 16;

/** The operations of XsOps, bound to one transaction id (0 = none). */
class TxOps implements XsOps {
  constructor(protected readonly conn: XsConnection, protected readonly txId: number, protected readonly partRestartsMax: number) {}

  async read(path: string): Promise<Buffer> {
    return this.conn.request(XsType.Read, this.txId, nulTerminated(path), 'read', path);
  }

  async readString(path: string): Promise<string | undefined> {
    try {
      return (await this.read(path)).toString('utf8');
    } catch (error) {
      if (isXsErrno(error, 'ENOENT')) return undefined;
      throw error;
    }
  }

  async write(path: string, value: string | Uint8Array): Promise<void> {
    await this.conn.request(XsType.Write, this.txId, nulSeparated(path, value), 'write', path);
  }

  async mkdir(path: string): Promise<void> {
    await this.conn.request(XsType.Mkdir, this.txId, nulTerminated(path), 'mkdir', path);
  }

  async rm(path: string): Promise<void> {
    await this.conn.request(XsType.Rm, this.txId, nulTerminated(path), 'rm', path);
  }

  async directory(path: string): Promise<string[]> {
    try {
      return splitNul(await this.conn.request(XsType.Directory, this.txId, nulTerminated(path), 'directory', path));
    } catch (error) {
      // A listing over XENSTORE_PAYLOAD_MAX: fetch it in parts, as libxenstore does.
      if (isXsErrno(error, 'E2BIG')) return this.directoryInParts(path);
      throw error;
    }
  }

  async getPerms(path: string): Promise<XsPerm[]> {
    return decodePerms(await this.conn.request(XsType.GetPerms, this.txId, nulTerminated(path), 'get-perms', path), path);
  }

  async setPerms(path: string, perms: XsPerm[]): Promise<void> {
    await this.conn.request(XsType.SetPerms, this.txId, nulTerminated(path, ...perms.map(formatPerm)), 'set-perms', path);
  }

  /**
   * XS_DIRECTORY_PART: ask from byte offset 0 and on; the generation count in each part must
   * not change, else the node changed meanwhile and the listing restarts (bounded).
   */
  private async directoryInParts(path: string): Promise<string[]> {
    for (let restart = 0; restart <= this.partRestartsMax; restart++) {
      const children: string[] = [];
      let generation: string | undefined;
      let offset = 0;
      let changed = false;
      for (let part = 0; part < DIRECTORY_PARTS_MAX; part++) {
        const payload = await this.conn.request(XsType.DirectoryPart, this.txId, nulTerminated(path, String(offset)), 'directory', path);
        const decoded = decodeDirectoryPart(payload, path);
        if (generation !== undefined && decoded.generation !== generation) {
          changed = true;
          break;
        }
        generation = decoded.generation;
        children.push(...decoded.children);
        offset += decoded.bytes;
        if (decoded.done) return children;
        if (decoded.bytes === 0) throw protocolError(`DIRECTORY_PART of ${path} made no progress`, { path });
      }
      if (!changed) throw protocolError(`DIRECTORY_PART of ${path} did not end`, { path });
    }
    throw new SplitblkError(XS_BUSY, `xenstore directory ${path}: kept changing while listed in parts`, { path });
  }
}

/**
 * The xenstore client over any ByteStream: a unix socket, a guest's ring, or an in-process
 * pipe into the server. One connection; requests pipeline; watches and transactions share it.
 */
export class XsClientImpl extends TxOps implements XsClient {
  private readonly watches = new Map<string, ClientWatch>();
  private readonly watchEventsMax: number;
  private readonly transactionRetriesMax: number;
  private nextToken = 1;

  constructor(stream: ByteStream, readonly domid: number, opts: ClientOptions = {}) {
    const partRestartsMax = opts.directoryPartRestartsMax ?? DIRECTORY_PART_RESTARTS_MAX_DEFAULT;
    super(new XsConnection(stream, opts), 0, partRestartsMax);
    this.watchEventsMax = opts.watchEventsMax ?? WATCH_EVENTS_MAX_DEFAULT;
    this.transactionRetriesMax = opts.transactionRetriesMax ?? TRANSACTION_RETRIES_MAX_DEFAULT;
    this.conn.onWatchEvent = (path, token) => this.watches.get(token)?.deliver({ path, token });
    this.conn.onClose((byPeer) => {
      for (const watch of this.watches.values()) watch.connectionClosed(byPeer);
      this.watches.clear();
    });
  }

  /** Whether the connection is gone (closed by us or lost). */
  get closed(): boolean {
    return this.conn.isClosed;
  }

  /** Run `cb` once when the connection closes; `byPeer` is true when it was lost rather than closed. */
  onClose(cb: (byPeer: boolean) => void): void {
    this.conn.onClose(cb);
  }

  async watch(path: string, token?: string): Promise<XsWatch> {
    const tok = token ?? `splitblk-${this.nextToken++}`;
    if (this.watches.has(tok)) {
      throw new SplitblkError(XS_CLIENT_LIMIT, `xenstore watch ${path}: token ${JSON.stringify(tok)} already in use on this connection`, { path });
    }
    const watch = new ClientWatch(path, tok, this.watchEventsMax, () => this.unwatch(path, tok));
    // Registered before the request, so the daemon's first event is kept even if it arrives
    // ahead of the reply.
    this.watches.set(tok, watch);
    try {
      await this.conn.request(XsType.Watch, 0, nulTerminated(path, tok), 'watch', path);
    } catch (error) {
      if (this.watches.get(tok) === watch) this.watches.delete(tok);
      throw error;
    }
    return watch;
  }

  transaction<T>(fn: (tx: XsOps) => Promise<T>, opts: { retriesMax?: number } = {}): Promise<T> {
    return runTransaction({
      start: async () => decodeU32(await this.conn.request(XsType.TransactionStart, 0, nulTerminated(''), 'transaction-start'), 'transaction id'),
      ops: (txId) => new TxOps(this.conn, txId, this.partRestartsMax),
      end: async (txId, commit) => {
        await this.conn.request(XsType.TransactionEnd, txId, nulTerminated(commit ? 'T' : 'F'), 'transaction-end');
      },
    }, fn, opts.retriesMax ?? this.transactionRetriesMax);
  }

  async getDomainPath(domid: number): Promise<string> {
    return decodeString(await this.conn.request(XsType.GetDomainPath, 0, nulTerminated(String(domid)), 'get-domain-path'));
  }

  async introduce(domid: number, gfn: number, port: number): Promise<void> {
    await this.conn.request(XsType.Introduce, 0, nulTerminated(String(domid), String(gfn), String(port)), 'introduce');
  }

  async release(domid: number): Promise<void> {
    await this.conn.request(XsType.Release, 0, nulTerminated(String(domid)), 'release');
  }

  async isDomainIntroduced(domid: number): Promise<boolean> {
    return decodeBool(await this.conn.request(XsType.IsDomainIntroduced, 0, nulTerminated(String(domid)), 'is-domain-introduced'), 'is-domain-introduced');
  }

  /** Drop this connection's watches and transactions in the daemon (XS_RESET_WATCHES). */
  async resetWatches(): Promise<void> {
    await this.conn.request(XsType.ResetWatches, 0, nulTerminated(''), 'reset-watches');
    for (const watch of this.watches.values()) watch.connectionClosed(false);
    this.watches.clear();
  }

  async close(): Promise<void> {
    this.conn.close();
  }

  private async unwatch(path: string, token: string): Promise<void> {
    this.watches.delete(token);
    if (this.conn.isClosed) return;
    await this.conn.request(XsType.Unwatch, 0, nulTerminated(path, token), 'unwatch', path);
  }
}
