/**
 * The xenstored server: transport-agnostic, over ByteStreams.
 *
 *   const server = new XenstoreServer({ store?, quotas?, guests?, trace? });
 *   server.addConnection(stream, { domid: 0, privileged: true });   // unix socket: dom0
 *   const clientSide = server.connectInProcess(domid);               // in-process client
 *
 * connectInProcess(domid) returns the client's end of an in-memory ByteStream pair: the
 * in-process client writes request frames to it and reads reply and watch-event frames from
 * it, exactly as over a socket or a ring (one code path in the client, real framing). Domain 0
 * is privileged; any other domid acts as that (unprivileged) guest.
 *
 * Guests: pass `guests: GuestConnector` (implemented by src/xenstore-sim/ring/) and dom0's
 * XS_INTRODUCE(domid, gfn, port) calls guests.connect() and serves the returned ring stream
 * as that unprivileged domain.
 */
export type { ByteStream, GuestConnector } from './stream.js';
export { memoryStreamPair } from './memory-stream.js';
export { socketStream } from './socket-stream.js';
export { XenstoreServer, type XenstoreServerOptions } from './server.js';
export { listenUnix, type ListenUnixOptions, type UnixListener } from './unix-listener.js';
export { TraceLog } from './trace-log.js';
export { SYSTEM_CLOCK, type DaemonClock } from './clock.js';
export { WATCH_EVENT_TIMEOUT_MS_DEFAULT } from './output-queue.js';
