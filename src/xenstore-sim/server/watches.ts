import { isSpecialPath, lastSlashBefore, PERM_READ, type NodePerm, type StoreChange, type XsStore } from '../store/index.js';
import { encodeWatchEvent } from '../wire/serializer.js';
import type { Connection, Watch } from './connection.js';

/** Where a connection's frames go: the server batches them per incoming chunk. */
export type SendFrame = (conn: Connection, frame: Buffer) => void;

/**
 * Every registered watch, indexed by watch path, so that firing a change costs a lookup per
 * ancestor of the changed path plus one per matching watch, not a scan of every watch of
 * every connection. Each connection also keeps its own list (conn.watches, registration
 * order) for UNWATCH, EEXIST and the quota.
 */
export class WatchTable {
  private readonly byPath = new Map<string, Watch[]>();
  /** Registration order across all connections; events go out in (connection, seq) order. */
  private seq = 0;

  /**
   * `chargeMemory(domid, bytes)` is told of the memory each watch holds (C charges its path
   * and token to the watching domain) when it is added (bytes > 0) and removed (bytes < 0).
   */
  constructor(private readonly chargeMemory: (domid: number, bytes: number) => void = () => {}) {}

  /** What C 4.17 charges for a watch: its (canonical) path and its token. */
  static memoryBytes(path: string, token: string): number {
    return Buffer.byteLength(path) + Buffer.byteLength(token);
  }

  add(conn: Connection, path: string, token: string, relativePrefix: string | undefined): Watch {
    const watch: Watch = {
      conn, path, token, tokenBytes: Buffer.from(token, 'utf8'), relativePrefix, seq: this.seq++,
      lastEventPath: undefined, lastEventFrame: undefined,
    };
    conn.watches.push(watch);
    this.chargeMemory(conn.domid, WatchTable.memoryBytes(path, token));
    const list = this.byPath.get(path);
    if (list === undefined) this.byPath.set(path, [watch]);
    else list.push(watch);
    return watch;
  }

  /** Remove the connection's watch at `index` of conn.watches. */
  remove(conn: Connection, index: number): void {
    const [watch] = conn.watches.splice(index, 1);
    if (watch !== undefined) this.unindex(watch);
  }

  /** Forget every watch of `conn` (RESET_WATCHES, re-introduction, release, close). */
  clear(conn: Connection): void {
    for (const watch of conn.watches) this.unindex(watch);
    conn.watches.length = 0;
  }

  /** Watches on exactly `path`. */
  on(path: string): readonly Watch[] | undefined {
    return this.byPath.get(path);
  }

  /**
   * Watches a change fires: those on the path itself, and for a non-exact change those on
   * each ancestor (is_child() of C: the ancestor followed by "/" in the path) and on "/".
   * A one-watch result may be the table's own list (see ownOrCopy()): do not change it.
   */
  matching(change: StoreChange): Watch[] {
    if (this.byPath.size === 0) return NO_WATCHES;
    const path = change.path;
    if (change.exact || path === '/') return ownOrCopy(this.byPath.get(path));
    let found: Watch[] | undefined;
    let merged: Watch[] | undefined;
    // `end`: the length of the path or ancestor looked up next, 0 standing for "/" (-1: done).
    for (let end = path.length; end >= 0; end = end > 0 ? lastSlashBefore(path, end) : -1) {
      const list = this.byPath.get(end === path.length ? path : end === 0 ? '/' : path.slice(0, end));
      if (list === undefined) continue;
      if (found === undefined) found = list;
      else {
        merged ??= [...found];
        for (const w of list) merged.push(w);
      }
    }
    return merged ?? ownOrCopy(found);
  }

  private unindex(watch: Watch): void {
    this.chargeMemory(watch.conn.domid, -WatchTable.memoryBytes(watch.path, watch.token));
    const list = this.byPath.get(watch.path);
    if (list === undefined) return;
    const i = list.indexOf(watch);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.byPath.delete(watch.path);
  }
}

const NO_WATCHES: Watch[] = [];

/**
 * What matching() returns for one list of the table: a single watch (the common case) in the
 * table's own list, without an allocation per change; several in a copy, since delivering an
 * event may close a connection (a broken guest ring) and so remove watches from the list
 * being walked. A single-watch list can only become empty, which ends the walk.
 */
function ownOrCopy(list: Watch[] | undefined): Watch[] {
  if (list === undefined) return NO_WATCHES;
  return list.length === 1 ? list : [...list];
}

/** C's order of events: connections in the order they came, each one's watches in registration order. */
function byConnectionThenSeq(a: Watch, b: Watch): number {
  return a.conn.id - b.conn.id || a.seq - b.seq;
}

/**
 * Send each watch its event when its connection may read the node under one of `perms`
 * (checked once per connection). `watches` must be in (connection, seq) order.
 */
function deliver(watches: readonly Watch[], store: XsStore, perms: readonly (readonly NodePerm[])[], path: string, queueBytesMax: number, send: SendFrame): void {
  let conn: Connection | undefined;
  let readable = false;
  for (const watch of watches) {
    if (watch.conn !== conn) {
      conn = watch.conn;
      readable = !conn.closed && mayRead(store, conn, perms);
    }
    if (readable) sendEvent(watch, path, queueBytesMax, send);
  }
}

/** Whether `conn` may read a node under one of the permission lists. */
function mayRead(store: XsStore, conn: Connection, perms: readonly (readonly NodePerm[])[]): boolean {
  for (let i = 0; i < perms.length; i++) if ((store.access(conn, perms[i]!) & PERM_READ) !== 0) return true;
  return false;
}

/**
 * Watch matching and event delivery (fire_watches()/add_event() of C xenstored).
 * A non-exact change fires every watch on the changed path or one of its ancestors; an exact
 * change (a descendant removed by RM) fires only watches on that very path. A connection gets
 * an event only when it may read the node under one of the change's permission lists.
 */
export function fireChange(table: WatchTable, store: XsStore, change: StoreChange, queueBytesMax: number, send: SendFrame): void {
  const watches = table.matching(change);
  if (watches.length === 0) return;
  if (watches.length > 1) watches.sort(byConnectionThenSeq);
  deliver(watches, store, change.perms, change.path, queueBytesMax, send);
}

/** Fire "@introduceDomain" or "@releaseDomain" to connections allowed to read it. */
export function fireSpecial(table: WatchTable, store: XsStore, name: string, queueBytesMax: number, send: SendFrame): void {
  const on = table.on(name);
  if (on === undefined || on.length === 0) return;
  const watches = [...on].sort(byConnectionThenSeq);
  deliver(watches, store, [store.getSpecialPerms(name)], name, queueBytesMax, send);
}

/**
 * The registration event. C 4.17 sends it whatever the node's permissions (it carries no
 * data, only the path the client itself named).
 */
export function fireRegistration(watch: Watch, queueBytesMax: number, send: SendFrame): void {
  sendEvent(watch, watch.path, queueBytesMax, send);
}

function sendEvent(watch: Watch, path: string, queueBytesMax: number, send: SendFrame): void {
  const conn = watch.conn;
  if (!conn.privileged && (conn.stream.pendingBytes?.() ?? 0) > queueBytesMax) {
    conn.eventsDropped++;
    return;
  }
  let frame = watch.lastEventFrame;
  if (frame === undefined || watch.lastEventPath !== path) {
    let shown = path;
    if (watch.relativePrefix !== undefined && !isSpecialPath(path)) {
      shown = path.length > watch.relativePrefix.length ? path.slice(watch.relativePrefix.length) : '';
    }
    frame = encodeWatchEvent(shown, watch.tokenBytes);
    watch.lastEventPath = path;
    watch.lastEventFrame = frame;
  }
  send(conn, frame);
}
