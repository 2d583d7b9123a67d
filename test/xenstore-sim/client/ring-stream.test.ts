import test from 'ava';
import { randomBytes } from 'node:crypto';
import type { RingDoorbell } from '../../../src/xenstore-sim/ring/doorbell.js';
import { XENSTORE_ERROR_RINGIDX, XENSTORE_RING_SIZE, XsRingOffset } from '../../../src/xenstore-sim/ring/layout.js';
import { RingByteStream, XsRingPage } from '../../../src/xenstore-sim/ring/stream.js';
import { within } from './helpers.js';

/*
 * The ring streams over one page in this process. The doorbell pair stands in for an event
 * channel (the same contract: a notify runs the peer's handler later on the event loop); the
 * streams over real event channels and real shared memory are tested in guest-ring.test.ts.
 */
function doorbellPair(): [RingDoorbell, RingDoorbell] {
  const handlers: (() => void)[] = [() => {}, () => {}];
  const closed = [false, false];
  const make = (self: 0 | 1): RingDoorbell => ({
    notify: () => {
      const peer = 1 - self;
      if (!closed[peer]) setImmediate(() => !closed[peer] && handlers[peer]!());
    },
    listen: (h) => {
      handlers[self] = h;
    },
    close: () => {
      closed[self] = true;
    },
  });
  return [make(0), make(1)];
}

function pair(startIndex = 0) {
  const buffer = new ArrayBuffer(4096);
  const page = new XsRingPage(buffer);
  for (const off of [XsRingOffset.reqCons, XsRingOffset.reqProd, XsRingOffset.rspCons, XsRingOffset.rspProd]) page.storeWord(off, startIndex);
  const [gb, db] = doorbellPair();
  const broken: string[] = [];
  const guest = new RingByteStream(page, 'guest', gb);
  const daemon = new RingByteStream(page, 'daemon', db, { onBroken: (r) => broken.push(r), pendingBytesMax: 64 * 1024 });
  return { page, guest, daemon, broken };
}

function collect(stream: RingByteStream, bytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  return new Promise((resolve) => {
    stream.onData((chunk) => {
      chunks.push(chunk);
      n += chunk.length;
      if (n >= bytes) resolve(Buffer.concat(chunks));
    });
  });
}

for (const start of [0, 0xffffffff - 700, 0xfffffff0]) {
  test(`bytes cross both halves intact, indices starting at ${start.toString(16)} (wrap-around)`, async (t) => {
    const { page, guest, daemon } = pair(start);
    t.is(page.loadWord(XsRingOffset.serverFeatures), 0, 'C 4.17 advertises no features');
    const up = randomBytes(10_000);
    const down = randomBytes(7_777);
    const gotUp = collect(daemon, up.length);
    const gotDown = collect(guest, down.length);
    // Writes in odd sizes, so chunks straddle the ring's end.
    for (let i = 0; i < up.length; i += 333) guest.write(up.subarray(i, i + 333));
    daemon.write(down);
    t.deepEqual(await within(gotUp, 5000, 'req bytes'), up);
    t.deepEqual(await within(gotDown, 5000, 'rsp bytes'), down);
    t.is(page.loadWord(XsRingOffset.reqProd), (start + up.length) >>> 0);
    t.is(page.loadWord(XsRingOffset.reqCons), (start + up.length) >>> 0);
    t.is(page.loadWord(XsRingOffset.rspCons), (start + down.length) >>> 0);
    guest.close();
    daemon.close();
  });
}

test('bytes wait in the ring until a receiver is registered', async (t) => {
  const { guest, daemon } = pair();
  guest.write(Buffer.from('early'));
  await new Promise((r) => setImmediate(r));
  t.is(daemon.pendingBytes(), 0);
  t.is(guest.pendingBytes(), 5, 'in the ring, not yet consumed');
  t.is((await within(collect(daemon, 5), 2000, 'early bytes')).toString(), 'early');
  guest.close();
  daemon.close();
});

const hostile: [string, (page: XsRingPage) => void][] = [
  ['req_prod far ahead of req_cons', (p) => p.storeWord(XsRingOffset.reqProd, p.loadWord(XsRingOffset.reqCons) + XENSTORE_RING_SIZE + 1)],
  ['req_prod behind req_cons', (p) => p.storeWord(XsRingOffset.reqProd, p.loadWord(XsRingOffset.reqCons) - 1)],
  ['rsp_cons ahead of rsp_prod', (p) => p.storeWord(XsRingOffset.rspCons, p.loadWord(XsRingOffset.rspProd) + 4000)],
];

for (const [name, corrupt] of hostile) {
  test(`the daemon end closes on garbage indices: ${name}`, async (t) => {
    const { page, guest, daemon, broken } = pair(12345);
    const closed = new Promise<void>((resolve) => daemon.onClose(resolve));
    daemon.onData(() => {});
    corrupt(page);
    // The guest (hostile) rings the doorbell; the daemon also notices when it next writes.
    guest.write(Buffer.from('x'));
    daemon.write(Buffer.from('reply'));
    await within(closed, 2000, 'daemon close');
    t.is(page.loadWord(XsRingOffset.error), XENSTORE_ERROR_RINGIDX);
    t.is(broken.length, 1);
    t.regex(broken[0]!, /corrupt/);
    guest.close();
  });
}

test('a peer that never consumes stalls the writer only up to pendingBytesMax, then closes it', async (t) => {
  const { daemon, broken } = pair();
  // No guest receiver: the rsp ring fills and the rest queues.
  const closed = new Promise<void>((resolve) => daemon.onClose(resolve));
  for (let i = 0; i < 100 && broken.length === 0; i++) daemon.write(Buffer.alloc(1024, i));
  await within(closed, 2000, 'stalled close');
  t.regex(broken[0]!, /stalled/);
});
