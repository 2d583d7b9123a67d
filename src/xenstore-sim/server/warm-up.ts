import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StreamSocketApi } from '../../native/api.js';
import { XsFrameParser } from '../wire/parser.js';
import { XsType } from '../wire/messages.js';
import { encodePacket, nulSeparated, nulTerminated } from '../wire/serializer.js';
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
 * store code), and two in-process clients doing what clients do most - a write that fires a
 * watch, one request at a time, and pipelined reads, writes, directory listings and
 * permission reads - until `budgetMs` has passed. Nothing of it remains afterwards.
 */
export async function warmUp(opts: { budgetMs: number; sockets?: StreamSocketApi }): Promise<void> {
  if (opts.budgetMs <= 0) return;
  const dir = mkdtempSync(join(tmpdir().length < 60 ? tmpdir() : '/tmp', 'xs-warm-'));
  const server = new XenstoreServer();
  let listener: UnixListener | undefined;
  const clients: FrameClient[] = [];
  try {
    listener = await listenUnix(server, join(dir, 'socket'), opts.sockets === undefined ? {} : { sockets: opts.sockets });
    const writer = await FrameClient.open(listener.path);
    clients.push(writer);
    const watcher = await FrameClient.open(listener.path);
    clients.push(watcher);
    await watcher.request(encodePacket(XsType.Watch, 1, 0, nulTerminated('/warm-up/w', 'warm')), 2);
    const ping = encodePacket(XsType.Write, 2, 0, nulSeparated('/warm-up/w', 'value'));
    const batch = pipelinedBatch();
    const deadline = Date.now() + opts.budgetMs;
    for (let round = 0; round < WARM_UP_ROUNDS_MAX && Date.now() < deadline && !writer.closed && !watcher.closed; round++) {
      await Promise.all([writer.request(ping, 1), watcher.expect(1)]);
      if (round % BATCH_EVERY === 0) await writer.request(batch.bytes, batch.frames);
    }
  } finally {
    for (const client of clients) client.close();
    await listener?.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

function pipelinedBatch(): { bytes: Buffer; frames: number } {
  const frames: Buffer[] = [];
  for (let i = 0; i < 4; i++) {
    frames.push(encodePacket(XsType.Write, 10 + i, 0, nulSeparated(`/warm-up/dir/k${i}`, `v${i}`)));
    frames.push(encodePacket(XsType.Read, 20 + i, 0, nulTerminated(`/warm-up/dir/k${i}`)));
    frames.push(encodePacket(XsType.Directory, 30 + i, 0, nulTerminated('/warm-up/dir')));
    frames.push(encodePacket(XsType.GetPerms, 40 + i, 0, nulTerminated('/warm-up/dir')));
    frames.push(encodePacket(XsType.Read, 50 + i, 0, nulTerminated('/warm-up/absent')));
  }
  return { bytes: Buffer.concat(frames), frames: frames.length };
}

/** A minimal client over net.Socket that counts the frames it receives. */
class FrameClient {
  private readonly parser = new XsFrameParser();
  private received = 0;
  private wanted = 0;
  private wake: (() => void) | undefined;

  private constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.parser.push(chunk);
      while (this.parser.nextPacket() !== undefined) this.received++;
      if (this.wake !== undefined && this.received >= this.wanted) {
        const wake = this.wake;
        this.wake = undefined;
        wake();
      }
    });
    // The daemon is in this process: an error here is one of ours, and ends the warm-up.
    socket.on('error', () => this.wake?.());
    socket.on('close', () => this.wake?.());
  }

  static open(path: string): Promise<FrameClient> {
    return new Promise((resolve, reject) => {
      const socket = connect(path);
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(new FrameClient(socket));
      });
    });
  }

  /** Send `bytes` and wait for `frames` more frames. */
  request(bytes: Buffer, frames: number): Promise<void> {
    const done = this.expect(frames);
    this.socket.write(bytes);
    return done;
  }

  /** Wait until `frames` more frames than so far counted have arrived. */
  expect(frames: number): Promise<void> {
    this.wanted += frames;
    if (this.received >= this.wanted || this.socket.destroyed) return Promise.resolve();
    return new Promise((resolve) => (this.wake = resolve));
  }

  get closed(): boolean {
    return this.socket.destroyed;
  }

  close(): void {
    this.socket.destroy();
  }
}
