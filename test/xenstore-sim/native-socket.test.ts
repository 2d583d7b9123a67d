import test from 'ava';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { native } from '../../src/native/index.js';
import { XenstoreServer, listenUnix } from '../../src/xenstore-sim/server/index.js';
import { XsFrameParser } from '../../src/xenstore-sim/wire/parser.js';
import { XsType, type XsPacket } from '../../src/xenstore-sim/wire/messages.js';
import { available } from '../helpers/ci.js';
import { nativeMissing } from '../helpers/native.js';
import { tempDir } from '../helpers/temp.js';
import { frame, strings } from './helpers/raw-client.js';

/*
 * The daemon's socket connections through the addon's stream sockets (NativeSocketStream):
 * frames split over many reads (the receive buffer is reused, so the parser must keep its own
 * copy of a partial frame), replies that outgrow the socket buffer (queued, then sent when
 * it drains, in order) and a client that goes away.
 */

async function serve(t: import('ava').ExecutionContext): Promise<{ server: XenstoreServer; path: string }> {
  const server = new XenstoreServer();
  const path = join(tempDir(t, 'xs-native-'), 'socket');
  const listener = await listenUnix(server, path, { sockets: native.streamSocket });
  t.teardown(() => listener.close());
  return { server, path };
}

async function open(path: string): Promise<{ socket: Socket; packets: XsPacket[]; arrived: () => Promise<void> }> {
  const socket = connect(path);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const parser = new XsFrameParser();
  const packets: XsPacket[] = [];
  let wake: (() => void) | undefined;
  socket.on('data', (chunk: Buffer) => {
    parser.push(chunk);
    for (let next = parser.next(); next.kind === 'packet'; next = parser.next()) packets.push(next.packet);
    wake?.();
  });
  const arrived = () => new Promise<void>((resolve) => (wake = resolve));
  return { socket, packets, arrived };
}

async function until(c: { packets: XsPacket[]; arrived: () => Promise<void> }, count: number): Promise<void> {
  while (c.packets.length < count) await c.arrived();
}

test('a request split into single bytes, one read each, is answered', async (t) => {
  if (!available(t, nativeMissing())) return;
  const { path } = await serve(t);
  const c = await open(path);
  t.teardown(() => c.socket.destroy());
  const write = frame(XsType.Write, 7, 0, Buffer.concat([strings('/split'), Buffer.from('value')]));
  const read = frame(XsType.Read, 8, 0, strings('/split'));
  for (const byte of Buffer.concat([write, read])) {
    c.socket.write(Buffer.from([byte]));
    // Let each byte reach the daemon on its own.
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  await until(c, 2);
  t.deepEqual(c.packets.map((p) => [p.type, p.reqId, p.payload.toString('latin1')]), [
    [XsType.Write, 7, 'OK\0'],
    [XsType.Read, 8, 'value'],
  ]);
});

test('replies beyond the socket buffer wait for the reader and arrive whole and in order', async (t) => {
  if (!available(t, nativeMissing())) return;
  const { path } = await serve(t);
  const c = await open(path);
  t.teardown(() => c.socket.destroy());
  const value = Buffer.alloc(4000, 'v');
  c.socket.write(frame(XsType.Write, 1, 0, Buffer.concat([strings('/big'), value])));
  await until(c, 1);
  // About 2 MB of replies, far more than a unix socket buffers, while this side reads nothing.
  c.socket.pause();
  const count = 500;
  const reads: Buffer[] = [];
  for (let i = 0; i < count; i++) reads.push(frame(XsType.Read, 1000 + i, 0, strings('/big')));
  c.socket.write(Buffer.concat(reads));
  await new Promise((resolve) => setTimeout(resolve, 100));
  c.socket.resume();
  await until(c, 1 + count);
  const replies = c.packets.slice(1);
  t.deepEqual(replies.map((p) => p.reqId), reads.map((_, i) => 1000 + i));
  t.true(replies.every((p) => p.type === XsType.Read && p.payload.equals(value)));
});

test('a client that closes is dropped, and the daemon goes on serving others', async (t) => {
  if (!available(t, nativeMissing())) return;
  const { server, path } = await serve(t);
  const a = await open(path);
  const b = await open(path);
  t.teardown(() => b.socket.destroy());
  b.socket.write(frame(XsType.Watch, 1, 0, strings('/gone', 'tok')));
  await until(b, 2);
  t.is(server.connectionCount, 2);
  a.socket.destroy();
  while (server.connectionCount > 1) await new Promise((resolve) => setTimeout(resolve, 5));
  b.socket.write(frame(XsType.Write, 2, 0, Buffer.concat([strings('/gone'), Buffer.from('x')])));
  await until(b, 4);
  t.deepEqual(b.packets.slice(2).map((p) => p.type).sort(), [XsType.Write, XsType.WatchEvent].sort());
});
