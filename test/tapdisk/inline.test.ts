/**
 * Vbd.queueNow(): with a synchronous driver (ram:, null:) and an idle VBD, a request runs and
 * completes inside the call; otherwise it is queued behind what is there, so the ordering rules
 * hold whichever way a request arrived.
 */
import test from 'ava';
import { TdOp, TdStatus, type ImageDriver, type TdRequest } from '../../src/tapdisk/api.js';
import { LATENCY_BUCKETS } from '../../src/tapdisk/stats.js';
import { Tapdisk } from '../../src/tapdisk/tapdisk.js';
import { HoldingDriver, openRamDriver, vbdOver } from './drivers-for-tests.js';
import { makeRequest, request, seededWorkload, setRequest, type Outcome } from './helpers.js';

/** Submit through queueNow; `inline` says whether it completed before queueNow returned. */
function submitNow(vbd: { queueNow(req: TdRequest): void }, req: TdRequest): { inline: boolean; done: Promise<Outcome> } {
  let finished = false;
  const done = new Promise<Outcome>((resolve) => {
    req.done = (_r, status, errno) => {
      finished = true;
      resolve({ status, errno });
    };
  });
  vbd.queueNow(req);
  return { inline: finished, done };
}

/**
 * A ram: image behind a HoldingDriver that claims to be synchronous (a driver breaking its
 * word): it keeps every request until the test releases it.
 */
async function lyingDriver(tapdisk: Tapdisk, id: string): Promise<HoldingDriver> {
  const inner = await openRamDriver(tapdisk, `ram:1M?id=${id}`);
  return Object.assign(new HoldingDriver(inner), { synchronous: true }) as HoldingDriver;
}

test('queueNow on an idle ram: VBD completes inside the call and is counted', async (t) => {
  const tapdisk = new Tapdisk({ aio: null });
  t.teardown(() => tapdisk.close());
  const memory = new Uint8Array(8192);
  const region = tapdisk.registerRegion(memory.buffer);
  const vbd = await tapdisk.open('ram:1M');
  memory.fill(0x3c, 0, 4096);
  const w = submitNow(vbd, setRequest(makeRequest(), TdOp.Write, 8, 8, region, 0));
  t.true(w.inline);
  t.is((await w.done).status, TdStatus.Ok);
  const r = submitNow(vbd, setRequest(makeRequest(), TdOp.Read, 8, 8, region, 4096));
  t.true(r.inline);
  t.true(memory.subarray(4096).every((x) => x === 0x3c));
  const bad = submitNow(vbd, setRequest(makeRequest(), TdOp.Read, 2048, 8, region, 0));
  t.true(bad.inline, 'a bad request is answered inside the call too');
  t.is((await bad.done).status, TdStatus.Error);
  const stats = vbd.stats();
  t.is(stats.write.requests, 1);
  t.is(stats.read.requests, 2);
  t.is(stats.read.errors, 1);
  t.is(stats.latencyUs[0], 3, 'the inline requests spent no time queued');
  t.is(stats.latencyUs.length, LATENCY_BUCKETS);
  t.is(stats.inFlight + stats.pending, 0);
});

test('queueNow queues behind requests already queued, and while paused', async (t) => {
  const tapdisk = new Tapdisk({ aio: null });
  t.teardown(() => tapdisk.close());
  const memory = new Uint8Array(8192);
  const region = tapdisk.registerRegion(memory.buffer);
  const vbd = await tapdisk.open('ram:1M');
  memory.fill(0x11, 0, 4096);
  const queued = request(vbd, TdOp.Write, 0, 8, region, 0);
  const r = submitNow(vbd, setRequest(makeRequest(), TdOp.Read, 0, 8, region, 4096));
  t.false(r.inline, 'a write is queued ahead of it');
  t.is((await queued).status, TdStatus.Ok);
  t.is((await r.done).status, TdStatus.Ok);
  t.true(memory.subarray(4096).every((x) => x === 0x11), 'and the read saw the write');

  await vbd.pause();
  const p = submitNow(vbd, setRequest(makeRequest(), TdOp.Read, 0, 8, region, 0));
  t.false(p.inline);
  await vbd.unpause();
  t.is((await p.done).status, TdStatus.Ok);
});

test('a driver that claims to be synchronous but keeps a request: later requests queue behind it', async (t) => {
  const tapdisk = new Tapdisk({ aio: null });
  t.teardown(() => tapdisk.close());
  const memory = new Uint8Array(8192);
  const region = tapdisk.registerRegion(memory.buffer);
  const holding = await lyingDriver(tapdisk, 'lying');
  const vbd = vbdOver(holding);
  t.teardown(() => vbd.close());
  memory.fill(0x22, 0, 4096);
  const w = submitNow(vbd, setRequest(makeRequest(), TdOp.Write, 0, 8, region, 0));
  t.false(w.inline);
  const r = submitNow(vbd, setRequest(makeRequest(), TdOp.Read, 0, 8, region, 4096));
  t.false(r.inline);
  await new Promise((resolve) => setImmediate(resolve));
  t.deepEqual(holding.log.map((e) => e.op), [TdOp.Write], 'the overlapping read waits for the write at the driver');
  holding.releaseReversed();
  t.is((await w.done).status, TdStatus.Ok);
  await new Promise((resolve) => setImmediate(resolve));
  holding.releaseReversed();
  t.is((await r.done).status, TdStatus.Ok);
  t.true(memory.subarray(4096).every((x) => x === 0x22));
});

test('random reads, writes, discards and flushes through queueNow and queue complete as if run in order', async (t) => {
  const requestsMax = 400;
  const { seed, tapdisk, work } = seededWorkload(t, requestsMax);
  const vbd = await tapdisk.open(`ram:32K?id=inline-${seed}`);
  const checks: Promise<void>[] = [];
  let inline = 0;
  for (let n = 0; n < requestsMax; n++) {
    const { req, check } = work.next(n);
    let done: Promise<Outcome>;
    if (work.rand(3) === 0) {
      done = new Promise((resolve) => {
        req.done = (_r, status, errno) => resolve({ status, errno });
        vbd.queue(req);
      });
    } else {
      const s = submitNow(vbd, req);
      if (s.inline) inline++;
      done = s.done;
    }
    checks.push(done.then(check));
    if (work.rand(8) === 0) await new Promise((r) => setImmediate(r));
  }
  await Promise.all(checks);
  t.true(inline > 0, 'some requests ran inline');
  t.true(inline < requestsMax, 'and some were queued');
  const stats = vbd.stats();
  t.is(stats.read.requests + stats.write.requests + stats.flush.requests + stats.discard.requests, requestsMax);
});

test('a request a synchronous driver keeps times out with EIO; its late completion is ignored and queueNow runs inline again', async (t) => {
  const tapdisk = new Tapdisk({ aio: null });
  t.teardown(() => tapdisk.close());
  const memory = new Uint8Array(8192);
  const region = tapdisk.registerRegion(memory.buffer);
  const holding = await lyingDriver(tapdisk, 'keeps');
  const vbd = vbdOver(holding, { timeoutMs: 20 });
  t.teardown(() => vbd.close());
  let calls = 0;
  const kept = submitNow(vbd, setRequest(makeRequest(), TdOp.Read, 0, 8, region, 0));
  kept.done.then(() => calls++);
  t.false(kept.inline);
  const outcome = await kept.done;
  t.is(outcome.status, TdStatus.Error);
  t.is(outcome.errno, 110, 'ETIMEDOUT');
  t.is(vbd.stats().timeouts, 1);
  t.is(vbd.stats().inFlight, 0);
  holding.completeAll(TdStatus.Ok);
  await new Promise((resolve) => setImmediate(resolve));
  t.is(calls, 1, 'the late completion reaches nobody');
  // The VBD is idle again: the next request goes straight to the driver, and completes.
  const next = setRequest(makeRequest(), TdOp.Read, 0, 8, region, 4096);
  const r = submitNow({ queueNow: (req) => { vbd.queueNow(req); holding.releaseReversed(); } }, next);
  t.true(r.inline);
  t.is((await r.done).status, TdStatus.Ok);
  t.is(vbd.stats().read.requests, 2);
});

test('a synchronous driver that throws: the request times out with EIO and the VBD still drains', async (t) => {
  const throwing: ImageDriver = {
    info: { sectors: 2048, sectorSize: 512, physicalSectorSize: 512, readonly: false, discard: false, chain: ['throwing:'] },
    synchronous: true,
    queue: () => {
      throw new Error('driver bug');
    },
    close: async () => {},
  };
  const vbd = vbdOver(throwing, { timeoutMs: 20 });
  t.teardown(() => vbd.close());
  let outcome: Outcome | undefined;
  const req = setRequest(makeRequest(), TdOp.Read, 0, 8, 0, 0);
  req.done = (_r, status, errno) => (outcome = { status, errno });
  t.throws(() => vbd.queueNow(req), { message: 'driver bug' });
  t.is(vbd.stats().inFlight, 1);
  await vbd.pause();
  t.deepEqual(outcome, { status: TdStatus.Error, errno: 110 });
  t.is(vbd.stats().timeouts, 1);
});
