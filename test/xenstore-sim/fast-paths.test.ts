import test from 'ava';
import { XenstoreServer } from '../../src/xenstore-sim/server/index.js';
import type { ByteStream } from '../../src/xenstore-sim/server/stream.js';
import { XsType as T } from '../../src/xenstore-sim/wire/messages.js';
import { XsFrameParser } from '../../src/xenstore-sim/wire/parser.js';
import type { XsPacket } from '../../src/xenstore-sim/wire/messages.js';
import { frame, strings } from './helpers/raw-client.js';

/*
 * The daemon's fast paths (docs/xenstore.md, "Performance"): replies and events batched per
 * incoming chunk, and watches found through an index by path. Each is checked here for the
 * behaviour it must keep; the differential suites check the same against C xenstored.
 */

/** A ByteStream that records every write the server makes, as it makes it. */
function recorder(): { stream: ByteStream; writes: Buffer[]; feed(bytes: Buffer): void; closed: () => boolean } {
  const writes: Buffer[] = [];
  let deliver: (chunk: Buffer) => void = () => {};
  let closed = false;
  const stream: ByteStream = {
    write(buf) { writes.push(Buffer.from(buf)); },
    onData(cb) { deliver = cb; },
    onClose() {},
    close() { closed = true; },
  };
  return { stream, writes, feed: (bytes) => deliver(bytes), closed: () => closed };
}

function packets(bytes: Buffer[]): XsPacket[] {
  const parser = new XsFrameParser();
  const out: XsPacket[] = [];
  for (const b of bytes) parser.push(b);
  for (let next = parser.next(); next.kind === 'packet'; next = parser.next()) out.push(next.packet);
  return out;
}

const text = (p: XsPacket) => p.payload.toString('latin1');

test('requests glued in one chunk get their replies in order, in one write', (t) => {
  const server = new XenstoreServer();
  const c = recorder();
  server.addConnection(c.stream, { domid: 0, privileged: true });
  c.feed(Buffer.concat([
    frame(T.Write, 1, 0, Buffer.from('/a\0one')),
    frame(T.Read, 2, 0, strings('/a')),
    frame(T.Read, 3, 0, strings('/missing')),
    frame(T.Directory, 4, 0, strings('/')),
  ]));
  t.is(c.writes.length, 1);
  const replies = packets(c.writes);
  t.deepEqual(replies.map((p) => [p.type, p.reqId]), [[T.Write, 1], [T.Read, 2], [T.Error, 3], [T.Directory, 4]]);
  t.deepEqual(replies.slice(0, 3).map(text), ['OK\0', 'one', 'ENOENT\0']);
  server.close();
});

test('the replies before an oversized header still go out before the connection closes', (t) => {
  const server = new XenstoreServer();
  const c = recorder();
  server.addConnection(c.stream, { domid: 0, privileged: true });
  const lying = Buffer.alloc(16);
  lying.writeUInt32LE(T.Read, 0);
  lying.writeUInt32LE(1_000_000, 12);
  c.feed(Buffer.concat([frame(T.Write, 7, 0, Buffer.from('/b\0x')), lying]));
  t.deepEqual(packets(c.writes).map((p) => [p.type, p.reqId, text(p)]), [[T.Write, 7, 'OK\0']]);
  t.true(c.closed());
  server.close();
});

test('a change fires the watches on its path and its ancestors only, in connection then registration order', (t) => {
  const server = new XenstoreServer();
  const first = recorder();
  const second = recorder();
  const writer = recorder();
  server.addConnection(first.stream, { domid: 0, privileged: true });
  server.addConnection(second.stream, { domid: 0, privileged: true });
  server.addConnection(writer.stream, { domid: 0, privileged: true });
  // The second connection registers first: events still go to the first connection first.
  second.feed(frame(T.Watch, 1, 0, strings('/a', 's-a')));
  first.feed(Buffer.concat([
    frame(T.Watch, 1, 0, strings('/a/b', 'f-ab')),
    frame(T.Watch, 2, 0, strings('/', 'f-root')),
    frame(T.Watch, 3, 0, strings('/ab', 'f-sibling')),
    frame(T.Watch, 4, 0, strings('/a/b/c/d', 'f-below')),
    frame(T.Watch, 5, 0, strings('/a', 'f-a')),
  ]));
  first.writes.length = 0;
  second.writes.length = 0;
  writer.feed(frame(T.Write, 1, 0, Buffer.from('/a/b/c\0v')));
  const events = (r: { writes: Buffer[] }) => packets(r.writes).filter((p) => p.type === T.WatchEvent).map(text);
  t.deepEqual(events(first), ['/a/b/c\0f-ab\0', '/a/b/c\0f-root\0', '/a/b/c\0f-a\0']);
  t.deepEqual(events(second), ['/a/b/c\0s-a\0']);

  // RM: the exact event for a watched descendant, then the recursive one for the ancestors.
  first.writes.length = 0;
  writer.feed(frame(T.Write, 2, 0, Buffer.from('/a/b/c/d\0v')));
  first.writes.length = 0;
  writer.feed(frame(T.Rm, 3, 0, strings('/a/b')));
  t.deepEqual(events(first), ['/a/b/c/d\0f-below\0', '/a/b\0f-ab\0', '/a/b\0f-root\0', '/a/b\0f-a\0']);

  // After UNWATCH and RESET_WATCHES nothing is left to fire.
  first.feed(frame(T.ResetWatches, 6, 0, Buffer.alloc(0)));
  second.feed(frame(T.Unwatch, 2, 0, strings('/a', 's-a')));
  first.writes.length = 0;
  second.writes.length = 0;
  writer.feed(frame(T.Write, 4, 0, Buffer.from('/a/b\0v')));
  t.deepEqual(events(first), []);
  t.deepEqual(events(second), []);
  server.close();
});
