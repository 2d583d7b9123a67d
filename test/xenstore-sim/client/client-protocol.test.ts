import test from 'ava';
import { SplitblkError } from '../../../src/util/errors.js';
import { XsError } from '../../../src/xenstore-sim/client/api.js';
import { XsClientImpl } from '../../../src/xenstore-sim/client/client.js';
import { XS_PROTOCOL } from '../../../src/xenstore-sim/client/errors.js';
import { decodeDirectoryPart, parsePerm } from '../../../src/xenstore-sim/client/codec.js';
import { memoryStreamPair } from '../../../src/xenstore-sim/server/memory-stream.js';
import { XsFrameParser } from '../../../src/xenstore-sim/wire/parser.js';
import { XsType, type XsPacket } from '../../../src/xenstore-sim/wire/messages.js';
import { within } from './helpers.js';

/*
 * The client facing a scripted daemon on the other end of an in-memory stream: replies split at
 * every byte, glued together, out of order, and malformed. Frames here are built by hand from
 * xs_wire.h (16-byte little-endian header), not by our serializer.
 */
function frame(type: number, reqId: number, txId: number, payload: string | Buffer): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload, 'latin1') : payload;
  const out = Buffer.alloc(16 + body.length);
  out.writeUInt32LE(type, 0);
  out.writeUInt32LE(reqId, 4);
  out.writeUInt32LE(txId, 8);
  out.writeUInt32LE(body.length, 12);
  body.copy(out, 16);
  return out;
}

function scripted() {
  const [clientEnd, daemonEnd] = memoryStreamPair();
  const client = new XsClientImpl(clientEnd, 0);
  const parser = new XsFrameParser();
  const requests: XsPacket[] = [];
  let waiting: (() => void) | undefined;
  daemonEnd.onData((chunk) => {
    parser.push(chunk);
    for (let r = parser.next(); r.kind === 'packet'; r = parser.next()) requests.push(r.packet);
    waiting?.();
  });
  const nextRequests = async (n: number) => {
    while (requests.length < n) await within(new Promise<void>((resolve) => (waiting = resolve)), 2000, 'requests');
    return requests.splice(0, n);
  };
  return { client, daemon: daemonEnd, nextRequests };
}

test('replies split at every byte offset, glued with events and out of order, still pair up', async (t) => {
  const { client, daemon, nextRequests } = scripted();
  const watch = await (async () => {
    const w = client.watch('/w', 'tk');
    const [req] = await nextRequests(1);
    t.is(req!.type, XsType.Watch);
    t.deepEqual(req!.payload, Buffer.from('/w\0tk\0'));
    daemon.write(frame(XsType.Watch, req!.reqId, 0, 'OK\0'));
    return w;
  })();
  const a = client.read('/a');
  const b = client.read('/b');
  const [ra, rb] = await nextRequests(2);
  t.not(ra!.reqId, rb!.reqId);
  // b's reply first, an event in between, a's reply last; all in one buffer sent a byte at a time.
  const bytes = Buffer.concat([
    frame(XsType.Read, rb!.reqId, 0, 'bee'),
    frame(XsType.WatchEvent, 0, 0, '/w/x\0tk\0'),
    frame(XsType.Read, ra!.reqId, 0, Buffer.from([0, 1, 0])),
  ]);
  for (let i = 0; i < bytes.length; i++) daemon.write(bytes.subarray(i, i + 1));
  t.is((await b).toString(), 'bee');
  t.deepEqual(await a, Buffer.from([0, 1, 0]));
  const it = watch[Symbol.asyncIterator]();
  t.deepEqual((await it.next()).value, { path: '/w/x', token: 'tk' });
  await client.close();
});

test('an error reply becomes an XsError; a wrong reply type a protocol error', async (t) => {
  const { client, daemon, nextRequests } = scripted();
  const a = client.read('/a');
  const b = client.mkdir('/b');
  const [ra, rb] = await nextRequests(2);
  daemon.write(frame(XsType.Error, ra!.reqId, 0, 'ENOENT\0'));
  daemon.write(frame(XsType.Read, rb!.reqId, 0, 'OK\0'));
  const ea = await t.throwsAsync(a, { instanceOf: XsError });
  t.is(ea?.errno, 'ENOENT');
  const eb = await t.throwsAsync(b);
  t.true(eb instanceof SplitblkError && eb.code === XS_PROTOCOL);
  t.false(client.closed, 'one bad reply does not end the connection');
  await client.close();
});

test('a reply to no request, or an oversized frame, closes the connection and rejects everything', async (t) => {
  for (const bad of [frame(XsType.Read, 999_999, 0, 'x'), Buffer.from(frame(XsType.Read, 1, 0, '').fill(0xff, 12, 16))]) {
    const { client, daemon, nextRequests } = scripted();
    const pending = client.read('/a');
    await nextRequests(1);
    daemon.write(bad);
    const error = await t.throwsAsync(pending);
    t.true(error instanceof SplitblkError && error.code === XS_PROTOCOL, String(error));
    t.true(client.closed);
  }
});

test('a request over XENSTORE_PAYLOAD_MAX fails locally with E2BIG', async (t) => {
  const { client } = scripted();
  const error = await t.throwsAsync(client.write('/big', Buffer.alloc(5000)), { instanceOf: XsError });
  t.is(error?.errno, 'E2BIG');
  t.false(client.closed);
  await client.close();
});

test('permission strings and DIRECTORY_PART replies parse at the boundary', (t) => {
  t.deepEqual(parsePerm('b0'), { domid: 0, perm: 'b' });
  t.deepEqual(parsePerm('r65535'), { domid: 65535, perm: 'r' });
  for (const bad of ['', 'x1', 'r', 'r-1', 'r65536', 'r1x', 'R1']) t.is(parsePerm(bad), undefined, bad);
  t.deepEqual(decodeDirectoryPart(Buffer.from('7\0a\0bb\0'), '/d'), { generation: '7', children: ['a', 'bb'], bytes: 5, done: false });
  t.deepEqual(decodeDirectoryPart(Buffer.from('7\0c\0\0'), '/d'), { generation: '7', children: ['c'], bytes: 2, done: true });
  t.deepEqual(decodeDirectoryPart(Buffer.from('7\0\0'), '/d'), { generation: '7', children: [], bytes: 0, done: true });
  t.throws(() => decodeDirectoryPart(Buffer.from('7\0a'), '/d'));
});
