import { isSameOrBelow, isSpecialPath, PERM_READ, type StoreChange, type XsStore } from '../store/index.js';
import { XsType } from '../wire/messages.js';
import { encodePacket, nulTerminated } from '../wire/serializer.js';
import type { Connection, Watch } from './connection.js';

/**
 * Watch matching and event delivery (fire_watches()/add_event() of C xenstored).
 * A non-exact change fires every watch on the changed path or one of its ancestors; an exact
 * change (a descendant removed by RM) fires only watches on that very path. A connection gets
 * an event only when it may read the node under one of the change's permission lists.
 */
export function fireChange(connections: Iterable<Connection>, store: XsStore, change: StoreChange, queueBytesMax: number): void {
  for (const conn of connections) {
    if (conn.closed || conn.watches.length === 0) continue;
    let readable: boolean | undefined;
    for (const watch of conn.watches) {
      const matches = change.exact ? watch.path === change.path : isSameOrBelow(change.path, watch.path);
      if (!matches) continue;
      readable ??= change.perms.some((perms) => (store.access(conn, perms) & PERM_READ) !== 0);
      if (!readable) break;
      sendEvent(conn, watch, change.path, queueBytesMax);
    }
  }
}

/** Fire "@introduceDomain" or "@releaseDomain" to connections allowed to read it. */
export function fireSpecial(connections: Iterable<Connection>, store: XsStore, name: string, queueBytesMax: number): void {
  const perms = store.getSpecialPerms(name);
  for (const conn of connections) {
    if (conn.closed) continue;
    if ((store.access(conn, perms) & PERM_READ) === 0) continue;
    for (const watch of conn.watches) if (watch.path === name) sendEvent(conn, watch, name, queueBytesMax);
  }
}

/**
 * The registration event. C 4.17 sends it whatever the node's permissions (it carries no
 * data, only the path the client itself named).
 */
export function fireRegistration(conn: Connection, watch: Watch, queueBytesMax: number): void {
  sendEvent(conn, watch, watch.path, queueBytesMax);
}

function sendEvent(conn: Connection, watch: Watch, path: string, queueBytesMax: number): void {
  if (!conn.privileged && (conn.stream.pendingBytes?.() ?? 0) > queueBytesMax) {
    conn.eventsDropped++;
    return;
  }
  let shown = path;
  if (watch.relativePrefix !== undefined && !isSpecialPath(path)) {
    shown = path.length > watch.relativePrefix.length ? path.slice(watch.relativePrefix.length) : '';
  }
  conn.stream.write(encodePacket(XsType.WatchEvent, 0, 0, nulTerminated(shown, watch.token)));
}
