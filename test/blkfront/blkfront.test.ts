/**
 * The frontend simulator against a RAM-disk backend (test/blkfront/ram-backend.ts) over the
 * real hypervisor emulation and our xenstored: the handshake and its keys, negotiation up and
 * down, direct and indirect I/O, persistent and per-request grants, verification, and a clean
 * disconnect.
 */
import test from 'ava';
import { Blkfront } from '../../src/blkfront/blkfront.js';
import { runWorkload } from '../../src/blkfront/workload.js';
import { BLKIF_X86_32 } from '../../src/blkback/protocol/codec.js';
import { XenbusState } from '../../src/xenstore-sim/xenbus/state.js';
import { needNative, setupEnv } from './env.js';
import { frontendPath } from './ram-backend.js';

const DEVID = 51712; // xvda
const MiB = 1024 * 1024;

/** Byte equality without ava's deep diff, which is slow on megabytes. */
const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

function pattern(bytes: number, seed: number): Uint8Array {
  const out = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) out[i] = (i * 7 + seed * 13 + (i >> 9)) & 0xff;
  return out;
}

test('negotiates order-4 rings, 4 queues, indirect and persistent grants; data round-trips; clean close', async (t) => {
  if (!needNative(t)) return;
  const env = await setupEnv(t);
  const backend = await env.addDisk(DEVID, { sectors: (8 * MiB) / 512, maxRingPageOrder: 4, maxQueues: 4, indirectSegments: 256, persistent: true });
  const front = await Blkfront.connect(env.guest, { domid: env.domid, devid: DEVID, iodepth: 8, maxIoBytes: MiB });
  t.like(front.negotiated, { protocol: 'x86_64-abi', ringPageOrder: 4, ringSlots: 512, queues: 4, indirectSegments: 256, persistent: true, flush: 'flush-diskcache' });
  t.is(front.sectors, (8 * MiB) / 512);
  // The keys, in Linux blkfront's layout.
  const fe = frontendPath(env.domid, DEVID);
  t.is(await env.dom0.readString(`${fe}/ring-page-order`), '4');
  t.is(await env.dom0.readString(`${fe}/multi-queue-num-queues`), '4');
  t.truthy(await env.dom0.readString(`${fe}/queue-3/ring-ref15`));
  t.truthy(await env.dom0.readString(`${fe}/queue-0/event-channel`));
  t.is(await env.dom0.readString(`${fe}/protocol`), 'x86_64-abi');
  t.is(await env.dom0.readString(`${fe}/feature-persistent`), '1');
  t.is(await env.dom0.readString(`${fe}/state`), String(XenbusState.Connected));
  t.is(backend.queuesConnected, 4);

  // A 1 MiB write goes indirect (256 segments); read it back in pieces and whole.
  const data = pattern(MiB, 1);
  await front.write(2048, data);
  t.true(same(await front.read(2048, 2048), data));
  t.true(same(await front.read(2048 + 8, 8), data.subarray(4096, 8192)));
  t.true(same(backend.disk.subarray(2048 * 512, 2048 * 512 + MiB), data), 'the bytes are on the backend disk');
  t.true(backend.requests.indirect >= 2);
  await front.flush();
  t.is(backend.requests.flush, 1);
  await t.throwsAsync(front.read(front.sectors - 1, 2), { message: /outside the disk/ });

  const closed = await front.close();
  t.is(closed.backendState, XenbusState.Closed);
  t.is(closed.leakedGrants, 0);
  t.is(await env.dom0.readString(`${fe}/state`), String(XenbusState.Closed));
  t.is(await env.dom0.readString(`${fe}/ring-page-order`), undefined, 'ring keys removed');
});

test('options negotiate less: one page, one queue, no indirect, no persistent grants', async (t) => {
  if (!needNative(t)) return;
  const env = await setupEnv(t);
  const backend = await env.addDisk(DEVID, { sectors: 4096, maxRingPageOrder: 4, maxQueues: 4, indirectSegments: 256, persistent: true });
  const front = await Blkfront.connect(env.guest, {
    domid: env.domid, devid: DEVID, ringOrder: 0, queues: 1, indirectSegments: 0, persistent: false, maxIoBytes: 11 * 4096,
  });
  t.like(front.negotiated, { ringPageOrder: 0, ringSlots: 32, queues: 1, indirectSegments: 0, persistent: false });
  const fe = frontendPath(env.domid, DEVID);
  t.truthy(await env.dom0.readString(`${fe}/ring-ref`));
  t.is(await env.dom0.readString(`${fe}/ring-page-order`), undefined);
  t.is(await env.dom0.readString(`${fe}/multi-queue-num-queues`), undefined);
  t.is(await env.dom0.readString(`${fe}/feature-persistent`), '0');
  t.false(backend.frontendPersistent);
  const data = pattern(11 * 4096, 2);
  await front.write(100, data);
  t.true(same(await front.read(100, 88), data));
  t.is(backend.requests.indirect, 0);
  // Per-request grants are ended at completion: nothing left granted but the ring.
  t.is(front.io.leakedRefs.length, 0);
  const closed = await front.close();
  t.is(closed.leakedGrants, 0);
  t.is(closed.backendState, XenbusState.Closed);
});

test('a bs larger than the connection allows is refused with a message', async (t) => {
  if (!needNative(t)) return;
  const env = await setupEnv(t);
  await env.addDisk(DEVID, { sectors: 4096 });
  const error = await t.throwsAsync(Blkfront.connect(env.guest, { domid: env.domid, devid: DEVID, maxIoBytes: 64 * 1024 }));
  t.regex(error!.message, /need 16 segments; this connection allows 11/);
});

test('verified randrw at iodepth 16 with 64k blocks passes and reads everything back', async (t) => {
  if (!needNative(t)) return;
  const env = await setupEnv(t);
  await env.addDisk(DEVID, { sectors: (4 * MiB) / 512, maxRingPageOrder: 2, maxQueues: 2, indirectSegments: 64, persistent: true });
  const front = await Blkfront.connect(env.guest, { domid: env.domid, devid: DEVID, iodepth: 16, maxIoBytes: 64 * 1024 });
  const result = await runWorkload(front.io, { rw: 'randrw', bs: 64 * 1024, iodepth: 16, sizeBytes: 4 * MiB, verify: true, seed: 42 });
  t.log(`seed ${result.seed}: ${result.ios} I/Os, ${result.verify!.sectorsChecked} sectors checked`);
  t.is(result.errors, 0);
  t.true(result.verify!.ok, JSON.stringify(result.verify!.errors));
  t.is(result.ios, 64, 'one pass over 4 MiB of 64 KiB blocks');
  t.true(result.writes > 0 && result.reads > 0);
  t.true(result.verify!.sectorsChecked >= result.writes * 128, 'every written block read back');
  t.true(result.latency.p50Us > 0);
  await front.close();
});

test('verification catches misdirected and dropped writes', async (t) => {
  if (!needNative(t)) return;
  for (const fault of ['misdirect', 'drop'] as const) {
    const env = await setupEnv(t);
    await env.addDisk(DEVID, { sectors: 2048, fault });
    const front = await Blkfront.connect(env.guest, { domid: env.domid, devid: DEVID, iodepth: 4, maxIoBytes: 4096 });
    const result = await runWorkload(front.io, { rw: 'write', bs: 4096, iodepth: 4, sizeBytes: 512 * 1024, verify: true, seed: 7 });
    t.false(result.verify!.ok, fault);
    const kinds = new Set(result.verify!.errors.map((e) => e.kind));
    t.log(fault, [...kinds]);
    t.true(fault === 'misdirect' ? kinds.has('misplaced') || kinds.has('stale') : kinds.has('lost'), `${fault}: ${[...kinds]}`);
    await front.close();
  }
});

test('the x86_32 ABI works end to end (protocol=x86_32-abi)', async (t) => {
  if (!needNative(t)) return;
  const env = await setupEnv(t);
  const backend = await env.addDisk(DEVID, { sectors: 4096, indirectSegments: 32 });
  const front = await Blkfront.connect(env.guest, { domid: env.domid, devid: DEVID, codec: BLKIF_X86_32, maxIoBytes: 32 * 4096, iodepth: 4 });
  t.is(backend.frontendProtocol, 'x86_32-abi');
  t.is(front.negotiated.ringSlots, 32);
  const result = await runWorkload(front.io, { rw: 'randwrite', bs: 32 * 4096, iodepth: 4, sizeBytes: 2 * MiB, verify: true, seed: 3 });
  t.true(result.verify!.ok);
  t.true(backend.requests.indirect > 0);
  await front.close();
});

test('a backend that closes mid-run ends the workload with an error, not a hang', async (t) => {
  if (!needNative(t)) return;
  const env = await setupEnv(t);
  const backend = await env.addDisk(DEVID, { sectors: 65536 });
  const front = await Blkfront.connect(env.guest, { domid: env.domid, devid: DEVID, iodepth: 8, maxIoBytes: 4096 });
  const run = runWorkload(front.io, { rw: 'randread', bs: 4096, iodepth: 8, runtimeMs: 20_000, stallTimeoutMs: 3000 });
  setTimeout(() => void env.dom0.write(`/local/domain/0/backend/vbd/${env.domid}/${DEVID}/state`, String(XenbusState.Closing)), 200);
  const result = await run;
  t.true(result.errors > 0);
  t.true(front.backendClosed);
  t.truthy(backend);
  await front.close();
});

test('a signal aborted before the run (Ctrl-C while connecting) ends it before its first I/O', async (t) => {
  if (!needNative(t)) return;
  const env = await setupEnv(t);
  await env.addDisk(DEVID, { sectors: 8192 });
  const front = await Blkfront.connect(env.guest, { domid: env.domid, devid: DEVID, iodepth: 4, maxIoBytes: 4096 });
  const abort = new AbortController();
  abort.abort();
  const result = await runWorkload(front.io, { rw: 'randread', bs: 4096, iodepth: 4, runtimeMs: 60_000, signal: abort.signal });
  t.true(result.interrupted);
  t.is(result.ios, 0);
  t.is(result.errors, 0);
  await front.close();
});

test('a second frontend connects again after a clean close, and after a frontend that died connected', async (t) => {
  if (!needNative(t)) return;
  const env = await setupEnv(t);
  await env.addDisk(DEVID, { sectors: 4096, maxRingPageOrder: 1 });
  const first = await Blkfront.connect(env.guest, { domid: env.domid, devid: DEVID, maxIoBytes: 4096 });
  await first.write(8, pattern(4096, 5));
  await first.close();
  const second = await Blkfront.connect(env.guest, { domid: env.domid, devid: DEVID, maxIoBytes: 4096 });
  t.true(same(await second.read(8, 8), pattern(4096, 5)), 'reconnected after Closed');
  // A frontend that dies leaves Connected behind; the next one closes the stale connection first.
  second.io.release();
  const third = await Blkfront.connect(env.guest, { domid: env.domid, devid: DEVID, maxIoBytes: 4096 });
  t.true(same(await third.read(8, 8), pattern(4096, 5)), 'reconnected over a stale Connected');
  await third.close();
});

test('discard reaches the backend when offered; flush and discard are refused when not', async (t) => {
  if (!needNative(t)) return;
  const env = await setupEnv(t);
  const backend = await env.addDisk(DEVID, { sectors: 4096, discard: true, flush: false });
  const front = await Blkfront.connect(env.guest, { domid: env.domid, devid: DEVID, maxIoBytes: 4096 });
  t.like(front.negotiated, { discard: true, flush: 'none' });
  await front.write(16, pattern(4096, 9));
  await front.discard(16, 8);
  t.is(backend.requests.discard, 1);
  t.true((await front.read(16, 8)).every((b) => b === 0), 'the discarded sectors read back as zeroes');
  await t.throwsAsync(front.flush(), { message: /neither flush nor barrier/ });
  await t.throwsAsync(front.discard(4090, 8), { message: /outside the disk/ });
  await front.close();
});
