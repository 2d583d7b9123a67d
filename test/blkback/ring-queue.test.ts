/**
 * The ring loop's ordering and teardown rules, deterministically: a real guest ring, real grants
 * and event channels (one process plays both ends), and a disk whose completions the test
 * releases one by one, so "the barrier waits for the requests before it" and "teardown waits
 * for in-flight requests before unmapping" can be observed step by step.
 */
import test from 'ava';
import { BLKIF_X86_64 } from '../../src/blkback/protocol/codec.js';
import { BlkifRequest } from '../../src/blkback/protocol/request.js';
import { RingQueue, type DiskPort } from '../../src/blkback/ring-queue.js';
import { RingCounters } from '../../src/blkback/stats.js';
import { TdOp, TdStatus, type TdRequest } from '../../src/tapdisk/api.js';
import { guestRing, PAGE } from './guest-ring.js';

const tick = () => new Promise((r) => setTimeout(r, 20));

/** Poll until `get()` equals `want` (event channels cross a FIFO and the event loop), or 5 s. */
async function settle<T>(get: () => T, want: T): Promise<T> {
  const end = Date.now() + 5000;
  while (JSON.stringify(get()) !== JSON.stringify(want) && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
  await tick(); // and let anything that should not happen have its chance to
  return get();
}

/** A disk that holds every request until the test completes it. */
class HeldDisk implements DiskPort {
  held: TdRequest[] = [];
  accepting = true;
  private resume: (() => void)[] = [];
  private nextRegion = 1;
  queue(req: TdRequest): void {
    this.held.push(req);
  }
  onResume(cb: () => void): () => void {
    this.resume.push(cb);
    return () => (this.resume = this.resume.filter((c) => c !== cb));
  }
  unpause(): void {
    this.accepting = true;
    for (const cb of [...this.resume]) cb();
  }
  registerRegion(): number {
    return this.nextRegion++;
  }
  unregisterRegion(): void {}
  ops(): TdOp[] {
    return this.held.map((r) => r.op);
  }
  complete(i = 0, status = TdStatus.Ok): void {
    const [req] = this.held.splice(i, 1);
    req!.done(req!, status, 0);
  }
}

async function setup(t: { teardown(fn: () => void): void }, o: { indirectTablesMax?: number } = {}) {
  const g = guestRing('sbk-rq-', 16);
  const { mem, gt, guestEv, backEv, grants, ringRef, port, front, dataGfn, dataRefs, responses } = g;
  const disk = new HeldDisk();
  const counters = new RingCounters();
  const fatal: string[] = [];
  const rq = RingQueue.connect(
    { ringRefs: [ringRef], eventChannel: port },
    {
      domid: 1, codec: BLKIF_X86_64, grants, evtchn: backEv, disk,
      caps: { sectors: 1 << 20, readonly: false, indirectSegmentsMax: 4096, flush: true, barrier: true, discard: true, discardSecure: false },
      persistentGrantsMax: 0, indirectTablesMax: o.indirectTablesMax ?? 64, requestsPerEventMax: 128, spuriousStormMin: 64,
      counters, onFatal: (m) => fatal.push(m),
    },
  );
  const req = new BlkifRequest(4096);
  let nextId = 1;
  /** Push one request; `fill` sets the fields. Returns its id. */
  const push = (fill: (r: BlkifRequest) => void): number => {
    req.clear();
    fill(req);
    req.idLo = nextId++;
    BLKIF_X86_64.writeRequest(front.sring, front.produceRequest(), req);
    if (front.pushRequestsAndCheckNotify()) guestEv.notify(port);
    return req.idLo;
  };
  const write = (sector: number, page = 0) => (r: BlkifRequest) => {
    r.operation = 1;
    r.nrSegments = 1;
    r.segmentCount = 1;
    r.gref[0] = dataRefs[page]!;
    r.lastSect[0] = 7;
    r.sectorNumber = sector;
  };
  t.teardown(() => g.close());
  const kick = () => guestEv.notify(port);
  return { rq, disk, counters, fatal, responses, push, write, gt, ringRef, dataRefs, dataGfn, mem, front, kick };
}

test.serial('a barrier waits for the requests before it, and holds the requests after it', async (t) => {
  const s = await setup(t);
  s.push(s.write(0));
  s.push(s.write(8));
  const barrier = s.push((r) => (r.operation = 2));
  s.push(s.write(16));
  t.deepEqual(await settle(() => s.disk.ops(), [TdOp.Write, TdOp.Write]), [TdOp.Write, TdOp.Write], 'the barrier drains first; the later write waits');
  s.disk.complete();
  t.deepEqual(await settle(() => s.disk.ops(), [TdOp.Write]), [TdOp.Write]);
  s.disk.complete();
  t.deepEqual(await settle(() => s.disk.ops(), [TdOp.Flush]), [TdOp.Flush], 'now the barrier, alone');
  s.disk.complete();
  t.deepEqual(await settle(() => s.disk.ops(), [TdOp.Write]), [TdOp.Write], 'and only then the write after it');
  s.disk.complete();
  t.deepEqual(await settle(() => s.responses.map((r) => r.status), [0, 0, 0, 0]), [0, 0, 0, 0]);
  t.is(s.responses[2]!.id, barrier);
  t.is(s.responses[2]!.op, 2);
  await s.rq.disconnect();
});

test.serial('FLUSH_DISKCACHE with data: the write, then the flush, then one response', async (t) => {
  const s = await setup(t);
  const id = s.push((r) => {
    s.write(40)(r);
    r.operation = 3;
  });
  t.deepEqual(await settle(() => s.disk.ops(), [TdOp.Write]), [TdOp.Write]);
  s.disk.complete();
  t.deepEqual(await settle(() => s.disk.ops(), [TdOp.Flush]), [TdOp.Flush]);
  t.deepEqual(s.responses, []);
  s.disk.complete();
  t.deepEqual(await settle(() => s.responses, [{ id, op: 3, status: 0 }]), [{ id, op: 3, status: 0 }]);
  await s.rq.disconnect();
});

test.serial('teardown waits for in-flight requests before unmapping the ring and the grants; it is idempotent', async (t) => {
  const s = await setup(t);
  s.push(s.write(0, 3));
  t.is(await settle(() => s.rq.inFlight, 1), 1);
  const first = s.rq.disconnect();
  const second = s.rq.disconnect();
  t.is(first, second);
  await tick();
  t.false(s.gt.endAccess(s.ringRef), 'the ring is still mapped');
  t.false(s.gt.endAccess(s.dataRefs[3]!), 'the data page is still mapped');
  s.disk.complete(0, TdStatus.Error);
  await first;
  t.deepEqual(await settle(() => s.responses.map((r) => r.status), [-1]), [-1], 'the request was still answered');
  t.true(s.gt.endAccess(s.ringRef), 'the ring is unmapped');
  t.true(s.gt.endAccess(s.dataRefs[3]!), 'the data page is unmapped');
});

test.serial('a paused VBD is not fed; unpausing resumes consumption', async (t) => {
  const s = await setup(t);
  s.disk.accepting = false;
  s.push(s.write(0));
  t.deepEqual(await settle(() => s.disk.ops(), []), []);
  s.disk.unpause();
  t.deepEqual(await settle(() => s.disk.ops(), [TdOp.Write]), [TdOp.Write]);
  s.disk.complete();
  t.is(await settle(() => s.responses.length, 1), 1);
  await s.rq.disconnect();
});

test.serial('an indirect request that finds no free segment table waits (oo_req) instead of failing', async (t) => {
  const s = await setup(t, { indirectTablesMax: 1 });
  const indirectGfn = s.mem.allocPages(2);
  const indirectRefs = [s.gt.grantAccess(0, indirectGfn, true), s.gt.grantAccess(0, indirectGfn + 1, true)];
  const bytes = new Uint8Array(s.mem.buffer, indirectGfn * PAGE, 2 * PAGE);
  const slot = { bytes, view: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength) };
  const indirect = (page: number) => (r: BlkifRequest) => {
    r.operation = 6;
    r.indirectOp = 0;
    r.nrSegments = 12;
    r.segmentCount = 12;
    for (let i = 0; i < 12; i++) {
      r.gref[i] = s.dataRefs[i]!;
      r.lastSect[i] = 7;
    }
    r.indirectGrefs[0] = indirectRefs[page]!;
    BLKIF_X86_64.writeIndirectSegments(slot, page * PAGE, 0, r, 0, 12);
  };
  s.push(indirect(0));
  s.push(indirect(1));
  s.push(s.write(0, 15));
  t.deepEqual(await settle(() => s.disk.ops(), [TdOp.Read]), [TdOp.Read], 'the second indirect request waits, and the write behind it');
  t.is(s.counters.ooReq, 1);
  t.is(s.disk.held[0]!.segments, 12);
  s.disk.complete();
  t.deepEqual(await settle(() => s.disk.ops(), [TdOp.Read, TdOp.Write]), [TdOp.Read, TdOp.Write]);
  s.disk.complete();
  s.disk.complete();
  t.deepEqual(await settle(() => s.responses.map((r) => [r.op, r.status]), [[0, 0], [0, 0], [1, 0]]), [[0, 0], [0, 0], [1, 0]]);
  await s.rq.disconnect();
});

test.serial('a req_prod more than a ring ahead halts the ring with a fatal error and consumes nothing', async (t) => {
  const s = await setup(t);
  s.push(s.write(0));
  await settle(() => s.disk.ops().length, 1);
  s.disk.complete();
  t.is(await settle(() => s.responses.length, 1), 1);
  // The frontend lies: req_prod more than a ring beyond the responses.
  s.front.sring.storeReqProd((s.front.sring.loadRspProd() + s.front.size + 5) >>> 0);
  s.kick();
  t.is(await settle(() => s.fatal.length, 1), 1);
  t.regex(s.fatal[0]!, /bogus ring requests .* Halting ring processing/);
  t.is(s.counters.wrReq, 1, 'nothing past the overflow was consumed');
  t.deepEqual(s.disk.ops(), []);
  await s.rq.disconnect();
});
