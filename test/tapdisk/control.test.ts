import test, { type ExecutionContext } from 'ava';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { TapdiskClient } from '../../src/tapdisk/control/client.js';
import { FrameParser } from '../../src/tapdisk/control/frame.js';
import { ERR_FRAME_TOO_LARGE, ERR_NO_VBD, ERR_PROTOCOL, ERR_SIZE_CHANGED, ERR_UNKNOWN_TYPE } from '../../src/tapdisk/errors.js';
import { Tapdisk } from '../../src/tapdisk/tapdisk.js';

// Fixtures come from the .proto through protobufjs reflection, independent of the generated code.
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const proto = protobuf.loadSync(path.join(root, 'proto/tapdisk.proto'));
const Request = proto.lookupType('splitblk.tapdisk.Request');
const Response = proto.lookupType('splitblk.tapdisk.Response');

function framed(payload: Uint8Array): Buffer {
  const head = Buffer.alloc(4);
  head.writeUInt32BE(payload.length, 0);
  return Buffer.concat([head, payload]);
}

function tempDir(t: { teardown(fn: () => void): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapctl-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('the frame parser yields the same frames however the stream is split', (t) => {
  const payloads = [
    Request.encode(Request.fromObject({ cookie: 1, list: {} })).finish(),
    Request.encode(Request.fromObject({ cookie: 2, create: { spec: 'ram:1M', domid: 3, device: 51712 } })).finish(),
    new Uint8Array(0),
    Request.encode(Request.fromObject({ cookie: 4, unpause: { minor: 7, spec: 'aio:/x' } })).finish(),
  ];
  const stream = Buffer.concat(payloads.map(framed));
  const expected = payloads.map((p) => Buffer.from(p).toString('hex'));
  for (let a = 0; a <= stream.length; a++) {
    for (const b of [a, Math.min(stream.length, a + 1), Math.min(stream.length, a + 7), stream.length]) {
      const parser = new FrameParser(1024);
      const got: string[] = [];
      for (const chunk of [stream.subarray(0, a), stream.subarray(a, b), stream.subarray(b)]) {
        parser.push(chunk);
        for (let r = parser.next(); r.kind !== 'need'; r = parser.next()) {
          if (r.kind === 'error') throw r.error;
          got.push(Buffer.from(r.payload).toString('hex'));
        }
      }
      if (got.join() !== expected.join()) t.fail(`split at ${a}/${b}`);
    }
  }
  t.pass();
});

test('the parser says how many bytes it needs and refuses frames over the limit', (t) => {
  const parser = new FrameParser(16);
  t.deepEqual(parser.next(), { kind: 'need', bytes: 4 });
  parser.push(Uint8Array.of(0, 0, 0, 3, 1));
  t.deepEqual(parser.next(), { kind: 'need', bytes: 2 });
  const big = new FrameParser(16);
  big.push(Uint8Array.of(0, 0, 0, 17));
  const r = big.next();
  t.is(r.kind, 'error');
  t.is(r.kind === 'error' ? r.error.code : '', ERR_FRAME_TOO_LARGE);
  t.is(big.next().kind, 'error', 'the error is sticky');
});

async function served(t: ExecutionContext) {
  const dir = tempDir(t);
  const tapdisk = new Tapdisk({ aio: null, registryDir: path.join(dir, 'registry') });
  const socket = path.join(dir, 'td.sock');
  await tapdisk.listen(socket);
  t.teardown(() => tapdisk.close());
  return { dir, tapdisk, socket };
}

test('create, list, pause, unpause, stats and destroy over the socket', async (t) => {
  const { socket } = await served(t);
  const client = await TapdiskClient.connect(socket);
  t.teardown(() => client.end());
  const vbd = await client.create('ram:1M', { domid: 2, device: 51712 });
  t.is(vbd.minor, 0);
  t.is(vbd.domid, 2);
  t.is(vbd.device, 51712);
  t.is(vbd.sectors, 2048);
  t.is(vbd.state, 'running');
  const other = await client.create('null:4G');
  t.is(other.minor, 1);
  t.is(other.sectors, 8 * 1024 * 1024);
  t.is(other.domid, null);
  t.deepEqual((await client.list()).map((v) => [v.minor, v.state, v.chain]), [[0, 'running', ['ram:1M']], [1, 'running', ['null:4G']]]);
  t.is((await client.pause(0)).state, 'paused');
  const refused = await t.throwsAsync(client.unpause(0, 'ram:2M'));
  t.is((refused as { code?: string }).code, ERR_SIZE_CHANGED);
  t.is((await client.unpause(0, 'ram:1M?id=b')).chain[0], 'ram:1M?id=b');
  const stats = await client.stats();
  t.deepEqual(stats.map((s) => s.minor), [0, 1]);
  t.is(stats[0]!.read.requests, 0);
  t.is(stats[0]!.latencyUs.length, 24);
  await client.destroy(1);
  t.deepEqual((await client.list()).map((v) => v.minor), [0]);
  const missing = await t.throwsAsync(client.destroy(9));
  t.is((missing as { code?: string }).code, ERR_NO_VBD);
  const unknown = await t.throwsAsync(client.create('qcow9:/x'));
  t.is((unknown as { code?: string }).code, ERR_UNKNOWN_TYPE);
});

test('concurrent requests are matched to their answers by cookie', async (t) => {
  const { socket } = await served(t);
  const client = await TapdiskClient.connect(socket);
  t.teardown(() => client.end());
  const created = await Promise.all(Array.from({ length: 8 }, (_, i) => client.create(`ram:${i + 1}M`)));
  t.deepEqual(created.map((v) => v.sectors).sort((a, b) => a - b), Array.from({ length: 8 }, (_, i) => (i + 1) * 2048));
  const [list, stats, paused] = await Promise.all([client.list(), client.stats(), client.pause(created[3]!.minor)]);
  t.is(list.length, 8);
  t.is(stats.length, 8);
  t.is(paused.minor, created[3]!.minor);
});

test('the server answers an undecodable frame with a cookie-0 error and drops oversized frames', async (t) => {
  const { socket } = await served(t);
  const conn = net.connect(socket);
  t.teardown(() => conn.destroy());
  await new Promise((r) => conn.once('connect', r));
  const parser = new FrameParser();
  const next = () => new Promise<protobuf.Message>((resolve) => {
    const onData = (chunk: Buffer) => {
      parser.push(chunk);
      const r = parser.next();
      if (r.kind === 'packet') {
        conn.off('data', onData);
        resolve(Response.decode(r.payload));
      }
    };
    conn.on('data', onData);
  });
  conn.write(framed(Uint8Array.of(0xff, 0xff, 0xff)));
  const bad = Response.toObject(await next()) as { cookie?: number; error?: { code: string } };
  t.is(bad.cookie ?? 0, 0);
  t.is(bad.error?.code, ERR_PROTOCOL);
  // The connection still works after a bad message.
  conn.write(framed(Request.encode(Request.fromObject({ cookie: 77, list: {} })).finish()));
  const good = Response.toObject(await next()) as { cookie?: number; list?: unknown };
  t.is(good.cookie, 77);
  t.truthy(good.list);
  const closed = new Promise((r) => conn.once('close', r));
  conn.write(Uint8Array.of(0x7f, 0, 0, 0));
  const tooBig = Response.toObject(await next()) as { error?: { code: string } };
  t.is(tooBig.error?.code, ERR_FRAME_TOO_LARGE);
  await closed;
  t.pass();
});

test('a second server on a live socket path is refused; a stale socket file is replaced', async (t) => {
  const { socket } = await served(t);
  const second = new Tapdisk({ aio: null });
  await t.throwsAsync(second.listen(socket), { message: /another tapdisk/ });
  const dir = tempDir(t);
  const stale = path.join(dir, 'stale.sock');
  const dead = net.createServer();
  await new Promise<void>((r) => dead.listen(stale, r));
  // Closing a server removes its socket file; recreate it as a leftover without a listener.
  await new Promise<void>((r) => dead.close(() => r()));
  fs.writeFileSync(stale, '');
  const third = new Tapdisk({ aio: null });
  await third.listen(stale);
  t.teardown(() => third.close());
  const client = await TapdiskClient.connect(stale);
  t.deepEqual(await client.list(), []);
  client.end();
});

test('counters attached by the layer above (blkback rings) travel with the stats', async (t) => {
  const { socket, tapdisk } = await served(t);
  const client = await TapdiskClient.connect(socket);
  t.teardown(() => client.end());
  const created = await client.create('ram:1M');
  const rings = {
    total: { 'rd-req': 7, 'wr-sect': 2 ** 40, 'batch-sizes': [0, 3, 1] },
    rings: [{ 'rd-req': 3, 'wr-sect': 2 ** 39, 'batch-sizes': [0, 1, 1] }, { 'rd-req': 4, 'wr-sect': 2 ** 39, 'batch-sizes': [0, 2, 0] }],
  };
  t.is((await client.stats(created.minor))[0]!.rings, undefined);
  tapdisk.vbd(created.minor)!.attachStats(() => rings);
  t.deepEqual((await client.stats(created.minor))[0]!.rings, rings);
});
