/**
 * The ring pass with a synchronous disk (tapdisk's Vbd.queueNow over `ram:` and `null:`): each
 * request is answered inside the pass. A real guest ring, real grants and event channels (one
 * process plays both ends) and a real tapdisk: overlapping writes, reads, flushes, barriers and
 * discards must complete in ring order with the right data, and the hardening still holds (a
 * READ into a page the frontend granted read-only is answered BLKIF_RSP_ERROR, as Linux's
 * xen-blkback answers when its writable map of the grant fails).
 */
import test from 'ava';
import { BLKIF_X86_64 } from '../../src/blkback/protocol/codec.js';
import { BlkifRequest } from '../../src/blkback/protocol/request.js';
import {
  BLKIF_OP_DISCARD,
  BLKIF_OP_FLUSH_DISKCACHE,
  BLKIF_OP_READ,
  BLKIF_OP_WRITE,
  BLKIF_OP_WRITE_BARRIER,
  BLKIF_RSP_ERROR,
  BLKIF_RSP_OKAY,
} from '../../src/blkback/protocol/ops.js';
import { RingQueue, type DiskPort } from '../../src/blkback/ring-queue.js';
import { RingCounters } from '../../src/blkback/stats.js';
import { Tapdisk } from '../../src/tapdisk/tapdisk.js';
import { guestRing, PAGE, type Rsp } from './guest-ring.js';

const DATA_PAGES = 16;

async function setup(t: { teardown(fn: () => Promise<void> | void): void }, spec: string, persistentGrantsMax: number) {
  const g = guestRing('sbk-fast-', DATA_PAGES);
  const { mem, gt, guestEv, backEv, grants, ringRef, port, front, dataGfn, responses } = g;
  const rw = g.dataRefs;
  const roGfn = mem.allocPages(2);
  const ro = [gt.grantAccess(0, roGfn, true), gt.grantAccess(0, roGfn + 1, true)];
  const tapdisk = new Tapdisk({ aio: null });
  const vbd = await tapdisk.open(spec);
  const disk: DiskPort = {
    queue: (req) => vbd.queue(req),
    queueNow: (req) => vbd.queueNow(req),
    get accepting() {
      return vbd.accepting;
    },
    onResume: (cb) => vbd.onResume(cb),
    registerRegion: (buffer) => tapdisk.registerRegion(buffer),
    unregisterRegion: (region) => tapdisk.unregisterRegion(region),
  };
  const fatal: string[] = [];
  const rq = RingQueue.connect(
    { ringRefs: [ringRef], eventChannel: port },
    {
      domid: 1, codec: BLKIF_X86_64, grants, evtchn: backEv, disk,
      caps: { sectors: vbd.info.sectors, readonly: false, indirectSegmentsMax: 32, flush: true, barrier: true, discard: true, discardSecure: false },
      persistentGrantsMax, indirectTablesMax: 8, requestsPerEventMax: 128, spuriousStormMin: 64,
      counters: new RingCounters(), onFatal: (m) => fatal.push(m),
    },
  );
  const req = new BlkifRequest(32);
  let nextId = 1;
  /** Put one request on the ring (pushed later, in one go, by kick()). Returns its id. */
  const put = (op: number, sector: number, gref?: number, nrSectors = 8): number => {
    req.clear();
    req.operation = op;
    req.idLo = nextId++;
    req.sectorNumber = sector;
    if (op === BLKIF_OP_DISCARD) {
      req.nrSectors = nrSectors;
    } else if (gref !== undefined) {
      req.nrSegments = 1;
      req.segmentCount = 1;
      req.gref[0] = gref;
      req.firstSect[0] = 0;
      req.lastSect[0] = 7;
    }
    BLKIF_X86_64.writeRequest(front.sring, front.produceRequest(), req);
    return req.idLo;
  };
  const kick = () => {
    if (front.pushRequestsAndCheckNotify()) guestEv.notify(port);
  };
  const page = (gfn: number) => new Uint8Array(mem.buffer, gfn * PAGE, PAGE);
  /** Wait until `n` responses have arrived (or 5 s). */
  const responsesFor = async (n: number): Promise<Rsp[]> => {
    const end = Date.now() + 5000;
    while (responses.length < n && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
    await new Promise((r) => setTimeout(r, 20)); // and let any response too many arrive
    return responses;
  };
  t.teardown(async () => {
    await rq.disconnect();
    await tapdisk.close();
    g.close();
  });
  return { put, kick, page, responsesFor, rw, ro, dataGfn, roGfn, vbd, fatal, rq };
}

for (const persistent of [true, false]) {
  const mode = persistent ? 'persistent grants' : 'grants mapped per request';
  test.serial(`ram: overlapping writes, reads, flushes, barriers and discards in one pass keep ring order (${mode})`, async (t) => {
    const s = await setup(t, 'ram:1M', persistent ? 64 : 0);
    const a = s.page(s.dataGfn);
    const b = s.page(s.dataGfn + 2);
    a.fill(0xa1);
    b.fill(0xb2);
    for (let i = 3; i < 7; i++) s.page(s.dataGfn + i).fill(0x5c); // stale bytes the reads must replace
    const ops = [
      [BLKIF_OP_WRITE, s.put(BLKIF_OP_WRITE, 8, s.rw[0])],
      [BLKIF_OP_READ, s.put(BLKIF_OP_READ, 8, s.rw[3])], // sees A
      [BLKIF_OP_WRITE, s.put(BLKIF_OP_WRITE, 8, s.rw[2])],
      [BLKIF_OP_FLUSH_DISKCACHE, s.put(BLKIF_OP_FLUSH_DISKCACHE, 0)],
      [BLKIF_OP_READ, s.put(BLKIF_OP_READ, 8, s.rw[4])], // sees B
      [BLKIF_OP_WRITE_BARRIER, s.put(BLKIF_OP_WRITE_BARRIER, 16, s.rw[0])], // barrier with data: A at 16
      [BLKIF_OP_READ, s.put(BLKIF_OP_READ, 16, s.rw[5])], // sees A
      [BLKIF_OP_DISCARD, s.put(BLKIF_OP_DISCARD, 8)],
      [BLKIF_OP_READ, s.put(BLKIF_OP_READ, 8, s.rw[6])], // sees zeros
    ] as const;
    s.kick();
    const got = await s.responsesFor(ops.length);
    t.deepEqual(got, ops.map(([op, id]) => ({ id, op, status: BLKIF_RSP_OKAY })), 'every request answered OKAY, in ring order');
    t.true(s.page(s.dataGfn + 3).every((x) => x === 0xa1), 'the first read sees the first write');
    t.true(s.page(s.dataGfn + 4).every((x) => x === 0xb2), 'the read after the flush sees the second write');
    t.true(s.page(s.dataGfn + 5).every((x) => x === 0xa1), 'the read after the barrier sees its data');
    t.true(s.page(s.dataGfn + 6).every((x) => x === 0), 'the read after the discard sees zeros');
    const stats = s.vbd.stats();
    t.is(stats.read.requests, 4);
    t.is(stats.write.requests, 3, 'two writes and the barrier\'s data');
    t.is(stats.flush.requests, 2, 'the flush and the barrier\'s');
    t.is(stats.discard.requests, 1);
    t.is(stats.inFlight + stats.pending, 0);
    t.deepEqual(s.fatal, []);
  });

  test.serial(`a READ into a read-only grant is answered BLKIF_RSP_ERROR and the page stays intact (${mode})`, async (t) => {
    const s = await setup(t, 'null:1M', persistent ? 64 : 0);
    const roPage = s.page(s.roGfn);
    roPage.fill(0x77);
    s.page(s.roGfn + 1).fill(0x66);
    const readRo = s.put(BLKIF_OP_READ, 0, s.ro[0]);
    const writeRo = s.put(BLKIF_OP_WRITE, 0, s.ro[1]);
    const readRw = s.put(BLKIF_OP_READ, 0, s.rw[1]);
    const readRoAgain = s.put(BLKIF_OP_READ, 8, s.ro[1]); // after a WRITE used the same grant
    s.page(s.dataGfn + 1).fill(0x5c);
    s.kick();
    const got = await s.responsesFor(4);
    t.deepEqual(got, [
      { id: readRo, op: BLKIF_OP_READ, status: BLKIF_RSP_ERROR },
      { id: writeRo, op: BLKIF_OP_WRITE, status: BLKIF_RSP_OKAY },
      { id: readRw, op: BLKIF_OP_READ, status: BLKIF_RSP_OKAY },
      { id: readRoAgain, op: BLKIF_OP_READ, status: BLKIF_RSP_ERROR },
    ]);
    t.true(roPage.every((x) => x === 0x77), 'the null disk wrote no zeros into the read-only page');
    t.true(s.page(s.roGfn + 1).every((x) => x === 0x66));
    t.true(s.page(s.dataGfn + 1).every((x) => x === 0), 'the writable page got the zeros');
    t.deepEqual(s.fatal, []);
  });
}
