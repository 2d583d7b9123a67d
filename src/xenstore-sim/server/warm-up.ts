import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StreamSocketApi } from '../../native/api.js';
import type { XsClient } from '../client/api.js';
import { connectSocket } from '../client/socket.js';
import { XenstoreServer } from './server.js';
import { listenUnix, type UnixListener } from './unix-listener.js';

/**
 * Default time a daemon spends warming up before it listens. V8 optimizes a function only
 * after it has run for a while, and deoptimizes it when it meets objects of a new shape: a
 * fresh daemon serves its first tens of thousands of requests slower (about 10% on watch
 * events per second, more on the tail), however quickly its first clients come.
 */
export const WARM_UP_MS_DEFAULT = 500;

/** Upper bound on warm-up rounds, whatever the time budget. */
const WARM_UP_ROUNDS_MAX = 20_000;
/** Every this many watch round trips, one pipelined batch of the other common requests. */
const BATCH_EVERY = 8;

/**
 * Run the request path hot before the daemon listens: a throwaway server on a temporary unix
 * socket, served exactly as the real one will be (same stream class, same handlers, same
 * store code), and two in-process clients (the client library's) doing what clients do most - a write that fires a
 * watch, one request at a time, and pipelined reads, writes, directory listings and
 * permission reads - until `budgetMs` has passed. Nothing of it remains afterwards.
 */
export async function warmUp(opts: { budgetMs: number; sockets?: StreamSocketApi }): Promise<void> {
  if (opts.budgetMs <= 0) return;
  const dir = mkdtempSync(join(tmpdir().length < 60 ? tmpdir() : '/tmp', 'xs-warm-'));
  const server = new XenstoreServer();
  let listener: UnixListener | undefined;
  const clients: XsClient[] = [];
  try {
    listener = await listenUnix(server, join(dir, 'socket'), opts.sockets === undefined ? {} : { sockets: opts.sockets });
    const writer = await connectSocket(listener.path);
    clients.push(writer);
    const watcher = await connectSocket(listener.path);
    clients.push(watcher);
    const watch = await watcher.watch('/warm-up/w', 'warm');
    const events = watch[Symbol.asyncIterator]();
    await events.next(); // the registration event
    const deadline = Date.now() + opts.budgetMs;
    for (let round = 0; round < WARM_UP_ROUNDS_MAX && Date.now() < deadline; round++) {
      const event = events.next();
      await writer.write('/warm-up/w', 'value');
      if ((await event).done === true) break;
      if (round % BATCH_EVERY === 0) await pipelinedBatch(writer);
    }
  } finally {
    for (const client of clients) await client.close();
    await listener?.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The other common requests, pipelined, including one that fails (ENOENT). */
function pipelinedBatch(xs: XsClient): Promise<unknown> {
  const requests: Promise<unknown>[] = [];
  for (let i = 0; i < 4; i++) {
    requests.push(xs.write(`/warm-up/dir/k${i}`, `v${i}`));
    requests.push(xs.read(`/warm-up/dir/k${i}`));
    requests.push(xs.directory('/warm-up/dir'));
    requests.push(xs.getPerms('/warm-up/dir'));
    requests.push(xs.read('/warm-up/absent').catch(() => undefined));
  }
  return Promise.all(requests);
}
