/**
 * The xenstore client library: one XsClient API over the unix socket (dom0), a guest's ring
 * page (acting as that guest) or an in-process server. See docs/xenstore-client.md.
 */
export * from './api.js';
export { XsClientImpl, type ClientOptions } from './client.js';
export { connectSocket, type SocketClientOptions } from './socket.js';
/** The client and the server run over the same unix-socket ByteStream. */
export { socketStream as socketByteStream } from '../server/socket-stream.js';
export { connectGuestRing, type GuestRingClientOptions } from './guest.js';
export { connectInProcess, type InProcessServer } from './in-process.js';
export { XS_BUSY, XS_CLIENT_CLOSED, XS_CLIENT_LIMIT, XS_PROTOCOL, XS_WATCH_OVERFLOW, isXsErrno } from './errors.js';
export { openXenstore, type OpenXenstoreOptions } from './open.js';
