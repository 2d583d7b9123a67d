// Imported: the global Buffer is a getter in Node 20, called at every use on the request path.
import { Buffer } from 'node:buffer';
import {
  canonicalize, domainPath, isValidPath, parsePerm, permsToWire, XsStoreError, type NodePerm, type Transaction, type XsStore,
} from '../store/index.js';
import { fail } from '../store/errors.js';
import { XENSTORE_PAYLOAD_MAX, XENSTORE_REL_PATH_MAX, XS_TYPE_COUNT, XsType, type XsPacket } from '../wire/messages.js';
import { atoi, asUnsigned, countStrings, getStrings, nulIndex, oneArg } from './args.js';
import type { Connection } from './connection.js';
import { fireRegistration, WatchTable, type SendFrame } from './watches.js';

/** What the request handlers need from the server around them. */
export interface HandlerContext {
  readonly store: XsStore;
  readonly eventQueueBytesMax: number;
  readonly watches: WatchTable;
  /** Queue a complete frame (a watch event) for a connection, after what is already queued. */
  readonly sendFrame: SendFrame;
  introduce(domid: number, gfn: number, port: number): void;
  release(domid: number): void;
  resume(domid: number): void;
  setTarget(domid: number, target: number): void;
  isIntroduced(domid: number): boolean;
  control(args: string[]): Buffer;
  /** Drop every open transaction of the connection (freeing what they hold). */
  forgetTransactions(conn: Connection): void;
  /** A transaction of the connection was committed (C's wrl_apply_debit_trans_commit()). */
  transactionCommitted(conn: Connection): void;
  /**
   * Whether a domain exists for permission lists (C's domain_alloc_permrefs(): a domain
   * xenstored knows, or one the hypervisor reports).
   */
  domainExists(domid: number): boolean;
}

/** A handler returns the reply payload (sent with the request's type) or throws XsStoreError. */
type Handler = (ctx: HandlerContext, conn: Connection, payload: Buffer, tx: Transaction | undefined) => Buffer;

interface WireFunc {
  fn: Handler | undefined;
  /** XS_FLAG_PRIV: dom0 only (EACCES otherwise). */
  priv?: boolean;
  /** XS_FLAG_NOTID: the header's tx_id is ignored. */
  notid?: boolean;
}

const OK = Buffer.from('OK\0', 'latin1');

/**
 * Run one request and write its reply (and, before it, any watch events it fires) to the
 * connection, as process_message() does: unknown types ENOSYS, privileged types EACCES for
 * guests, an unknown tx_id ENOENT, then the handler.
 */
export function handleRequest(ctx: HandlerContext, conn: Connection, packet: XsPacket, reply: (conn: Connection, type: number, packet: XsPacket, payload: Buffer) => void): void {
  const wire = packet.type < XS_TYPE_COUNT ? WIRE_FUNCS[packet.type] : undefined;
  try {
    if (wire === undefined || wire.fn === undefined) fail('ENOSYS');
    if (wire.priv === true && !conn.privileged) fail('EACCES');
    let tx: Transaction | undefined;
    if (wire.notid !== true && packet.txId !== 0) {
      tx = conn.transactions.get(packet.txId);
      if (tx === undefined) fail('ENOENT');
    }
    const payload = wire.fn(ctx, conn, packet.payload, tx);
    if (payload.length > XENSTORE_PAYLOAD_MAX) fail('E2BIG');
    reply(conn, packet.type, packet, payload);
    if (packet.type === XsType.Watch) afterWatch(ctx, conn);
  } catch (error) {
    if (!(error instanceof XsStoreError)) throw error;
    reply(conn, XsType.Error, packet, Buffer.from(`${error.errno}\0`, 'latin1'));
  }
}

/** The registration event follows the WATCH reply (C sends the ack first). */
function afterWatch(ctx: HandlerContext, conn: Connection): void {
  const watch = conn.watches[conn.watches.length - 1];
  if (watch !== undefined) fireRegistration(watch, ctx.eventQueueBytesMax, ctx.sendFrame);
}

const directory: Handler = (ctx, conn, payload, tx) => ctx.store.directory(conn, arg(payload), tx);

const read: Handler = (ctx, conn, payload, tx) => ctx.store.read(conn, arg(payload), tx);

const getPerms: Handler = (ctx, conn, payload, tx) => {
  // C 4.17 has no GET_PERMS for "@" names: they fail path validation (EINVAL).
  return permsToWire(ctx.store.getPerms(conn, arg(payload), tx));
};

const write: Handler = (ctx, conn, payload, tx) => {
  const nul = nulIndex(payload, 0);
  if (nul < 0) fail('EINVAL');
  const path = payload.toString('utf8', 0, nul);
  // The value is everything after the path's NUL: binary data may hold more NULs. The store
  // keeps it, and the payload is a view into a reused receive buffer: copy it, once.
  const value = Buffer.allocUnsafe(payload.length - nul - 1);
  payload.copy(value, 0, nul + 1);
  ctx.store.write(conn, path, value, tx);
  return OK;
};

const mkdir: Handler = (ctx, conn, payload, tx) => {
  ctx.store.mkdir(conn, arg(payload), tx);
  return OK;
};

const rm: Handler = (ctx, conn, payload, tx) => {
  ctx.store.rm(conn, arg(payload), tx);
  return OK;
};

const setPerms: Handler = (ctx, conn, payload, tx) => {
  const strings = getStrings(payload, countStrings(payload));
  if (strings.length < 2) fail('EINVAL');
  const [path, ...texts] = strings as [string, ...string[]];
  if (!conn.privileged && texts.length > ctx.store.quotas.permsMax) fail('ENOSPC');
  const perms: NodePerm[] = [];
  for (const text of texts) {
    const perm = parsePerm(text);
    if (perm === undefined) fail('EINVAL');
    // C's domain_alloc_permrefs(): an entry naming a domain that does not exist is kept but
    // ignored (XS_PERM_IGNORE), so that a later domain with that id inherits nothing.
    perms.push(ctx.domainExists(perm.domid) ? perm : { ...perm, ignored: true });
  }
  // ...and an owner that does not exist is refused before the node is even looked up.
  if (perms[0]!.ignored === true) fail('ENOENT');
  if (path.startsWith('@')) ctx.store.setSpecialPerms(conn, path, perms);
  else ctx.store.setPerms(conn, path, perms, tx);
  return OK;
};

const watch: Handler = (ctx, conn, payload) => {
  if (countStrings(payload) !== 2) fail('EINVAL');
  const strings = getStrings(payload, 2);
  const [given, token] = strings as [string, string];
  let path = given;
  let relativePrefix: string | undefined;
  if (given.startsWith('@')) {
    if (Buffer.byteLength(given) > XENSTORE_REL_PATH_MAX) fail('EINVAL');
  } else {
    if (!given.startsWith('/')) relativePrefix = `${domainPath(conn.domid)}/`;
    path = canonicalize(given, conn.domid);
    if (!isValidPath(path, false, ctx.store.quotas.pathBytesMax)) fail('EINVAL');
  }
  if (conn.watches.some((w) => w.path === path && w.token === token)) fail('EEXIST');
  // Like C, compare before counting the new one: a guest may hold one more than the quota.
  if (!conn.privileged && conn.watches.length > ctx.store.quotas.watchesMax) fail('E2BIG');
  ctx.store.checkMemory(conn.domid, WatchTable.memoryBytes(path, token));
  ctx.watches.add(conn, path, token, relativePrefix);
  return OK;
};

const unwatch: Handler = (ctx, conn, payload) => {
  if (countStrings(payload) !== 2) fail('EINVAL');
  const strings = getStrings(payload, 2);
  const [given, token] = strings as [string, string];
  const path = canonicalize(given, conn.domid);
  const index = conn.watches.findIndex((w) => w.path === path && w.token === token);
  if (index < 0) fail('ENOENT');
  ctx.watches.remove(conn, index);
  return OK;
};

const transactionStart: Handler = (ctx, conn, _payload, tx) => {
  // No nesting: a start sent inside a transaction is refused.
  if (tx !== undefined) fail('EBUSY');
  // C compares before counting the new one, so a guest may hold one more than the quota.
  if (!conn.privileged && conn.transactions.size > ctx.store.quotas.transactionsMax) fail('ENOSPC');
  const id = conn.allocTransactionId();
  conn.transactions.set(id, ctx.store.startTransaction(conn, id));
  return Buffer.from(`${id}\0`, 'latin1');
};

const transactionEnd: Handler = (ctx, conn, payload, tx) => {
  const how = oneArg(payload);
  if (how !== 'T' && how !== 'F') fail('EINVAL');
  if (tx === undefined) fail('ENOENT');
  conn.transactions.delete(tx.id);
  ctx.store.endTransaction(tx, how === 'T');
  if (how === 'T') ctx.transactionCommitted(conn);
  return OK;
};

const introduce: Handler = (ctx, _conn, payload) => {
  const strings = getStrings(payload, 3);
  if (strings.length < 3) fail('EINVAL');
  const domid = atoi(strings[0]!);
  const gfn = atoi(strings[1]!);
  // evtchn_port_t is unsigned: only 0 is refused.
  const port = asUnsigned(atoi(strings[2]!));
  if (port === 0) fail('EINVAL');
  ctx.introduce(asUnsigned(domid), asUnsigned(gfn), port);
  return OK;
};

/** onearg_domain(): a nonzero domid (EINVAL for 0 or a missing argument). */
function domainArg(payload: Buffer): number {
  const text = oneArg(payload);
  if (text === undefined) fail('EINVAL');
  const domid = asUnsigned(atoi(text));
  if (domid === 0) fail('EINVAL');
  return domid;
}

const release: Handler = (ctx, _conn, payload) => {
  ctx.release(domainArg(payload));
  return OK;
};

const resume: Handler = (ctx, _conn, payload) => {
  ctx.resume(domainArg(payload));
  return OK;
};

const getDomainPath: Handler = (_ctx, _conn, payload) => {
  const text = oneArg(payload);
  if (text === undefined) fail('EINVAL');
  return Buffer.from(`${domainPath(asUnsigned(atoi(text)))}\0`, 'latin1');
};

const isDomainIntroduced: Handler = (ctx, _conn, payload) => {
  const text = oneArg(payload);
  if (text === undefined) fail('EINVAL');
  return Buffer.from(ctx.isIntroduced(asUnsigned(atoi(text))) ? 'T\0' : 'F\0', 'latin1');
};

const setTarget: Handler = (ctx, _conn, payload) => {
  const strings = getStrings(payload, 2);
  if (strings.length < 2) fail('EINVAL');
  ctx.setTarget(asUnsigned(atoi(strings[0]!)), asUnsigned(atoi(strings[1]!)));
  return OK;
};

const resetWatches: Handler = (ctx, conn) => {
  ctx.watches.clear(conn);
  ctx.forgetTransactions(conn);
  return OK;
};

const directoryPart: Handler = (ctx, conn, payload, tx) => {
  if (countStrings(payload) !== 2) fail('EINVAL');
  const [path, offsetText] = getStrings(payload, 2) as [string, string];
  const { generation, children } = ctx.store.directoryWithGeneration(conn, path, tx);
  const offset = asUnsigned(atoi(offsetText));
  const gen = Buffer.from(`${generation}\0`, 'latin1');
  // Past the end: the generation and an empty string that ends the list.
  if (offset >= children.length) return Buffer.concat([gen, ZERO]);
  const room = XENSTORE_PAYLOAD_MAX - gen.length - 1;
  let end = offset;
  while (end < children.length) {
    const nul = children.indexOf(0, end);
    if (nul - offset >= room) break;
    end = nul + 1;
  }
  const parts = [gen, children.subarray(offset, end)];
  if (end === children.length) parts.push(ZERO);
  return Buffer.concat(parts);
};

const control: Handler = (ctx, _conn, payload) => {
  const n = countStrings(payload);
  if (n < 1) fail('EINVAL');
  return ctx.control(getStrings(payload, n));
};

const ZERO = Buffer.from([0]);

/** A path argument: exactly one NUL-terminated string, else EINVAL. */
function arg(payload: Buffer): string {
  const path = oneArg(payload);
  if (path === undefined) fail('EINVAL');
  return path;
}

const WIRE_FUNCS: readonly WireFunc[] = [
  { fn: control, priv: true }, // XS_CONTROL
  { fn: directory }, // XS_DIRECTORY
  { fn: read }, // XS_READ
  { fn: getPerms }, // XS_GET_PERMS
  { fn: watch, notid: true }, // XS_WATCH
  { fn: unwatch, notid: true }, // XS_UNWATCH
  { fn: transactionStart }, // XS_TRANSACTION_START
  { fn: transactionEnd }, // XS_TRANSACTION_END
  { fn: introduce, priv: true, notid: true }, // XS_INTRODUCE
  { fn: release, priv: true, notid: true }, // XS_RELEASE
  { fn: getDomainPath, notid: true }, // XS_GET_DOMAIN_PATH
  { fn: write }, // XS_WRITE
  { fn: mkdir }, // XS_MKDIR
  { fn: rm }, // XS_RM
  { fn: setPerms }, // XS_SET_PERMS
  { fn: undefined }, // XS_WATCH_EVENT: only the daemon sends it
  { fn: undefined }, // XS_ERROR: only the daemon sends it
  { fn: isDomainIntroduced, priv: true, notid: true }, // XS_IS_DOMAIN_INTRODUCED
  { fn: resume, priv: true, notid: true }, // XS_RESUME
  { fn: setTarget, priv: true, notid: true }, // XS_SET_TARGET
  { fn: undefined }, // 20: XS_RESTRICT, removed
  { fn: resetWatches, notid: true }, // XS_RESET_WATCHES
  { fn: directoryPart }, // XS_DIRECTORY_PART
];
