import type { ByteStream } from '../server/stream.js';
import { XsClientImpl, type ClientOptions } from './client.js';

/** What connectInProcess needs from the server: the client end of an in-memory connection. */
export interface InProcessServer {
  connectInProcess(domid: number): ByteStream;
}

/**
 * A client wired straight into a server in this process (no socket), acting as `domid`: 0 is
 * privileged, any other domid an unprivileged guest. The bytes still go through the real
 * framing, so behaviour matches the socket and the ring.
 */
export function connectInProcess(server: InProcessServer, domid: number, opts: ClientOptions = {}): XsClientImpl {
  return new XsClientImpl(server.connectInProcess(domid), domid, opts);
}
