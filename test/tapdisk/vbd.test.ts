import test from 'ava';
import { TdOp, TdStatus, type TdRequest } from '../../src/tapdisk/api.js';
import { ERR_SIZE_CHANGED, ERR_VBD_STATE } from '../../src/tapdisk/errors.js';
import { Scheduler } from '../../src/tapdisk/scheduler.js';
import { Tapdisk } from '../../src/tapdisk/tapdisk.js';
import { autoReverse, HoldingDriver, openRamDriver, vbdOver } from './drivers-for-tests.js';
import { makeRequest, request, setRequest, submit } from './helpers.js';

const tick = () => new Promise((r) => setImmediate(r));

async function ramSetup(spec = 'ram:1M') {
  const tapdisk = new Tapdisk({ aio: null });
  const memory = new Uint8Array(1 << 20);
  const region = tapdisk.registerRegion(memory.buffer);
  const vbd = await tapdisk.open(spec);
  return { tapdisk, memory, region, vbd };
}

test('write then read through ram returns the bytes', async (t) => {
  const { tapdisk, memory, region, vbd } = await ramSetup();
  memory.fill(0xab, 0, 8192);
  t.is((await request(vbd, TdOp.Write, 16, 16, region, 0)).status, TdStatus.Ok);
  t.is((await request(vbd, TdOp.Read, 16, 16, region, 65536)).status, TdStatus.Ok);
  t.true(memory.subarray(65536, 65536 + 8192).every((b) => b === 0xab));
  t.is(vbd.stats().bytesCopied, 16384);
  t.is(vbd.stats().write.sectors, 16);
  await tapdisk.close();
});

test('out-of-range and read-only requests fail; unknown ops are not supported', async (t) => {
  const tapdisk = new Tapdisk({ aio: null });
  const region = tapdisk.registerRegion(new ArrayBuffer(1 << 16));
  const vbd = await tapdisk.open('ram:1M', { readonly: true });
  t.is((await request(vbd, TdOp.Read, 2047, 2, region)).status, TdStatus.Error);
  t.is((await request(vbd, TdOp.Write, 0, 8, region)).status, TdStatus.Error);
  t.is((await request(vbd, TdOp.Read, 0, 8, region)).status, TdStatus.Ok);
  t.is((await request(vbd, 9 as TdOp, 0, 8, region)).status, TdStatus.NotSupported);
  t.is(vbd.stats().write.errors, 1);
  t.is(vbd.stats().read.errors, 1);
  await tapdisk.close();
});

test('overlapping requests keep their order even when the device reorders', async (t) => {
  const { tapdisk, memory, region } = await ramSetup();
  const holding = new HoldingDriver(await openRamDriver(tapdisk));
  const vbd = vbdOver(holding);
  const stop = autoReverse(holding);
  memory.fill(1, 0, 4096);
  memory.fill(2, 4096, 8192);
  const results = await Promise.all([
    request(vbd, TdOp.Write, 0, 8, region, 0),
    request(vbd, TdOp.Read, 0, 8, region, 16384),
    request(vbd, TdOp.Write, 0, 8, region, 4096),
    request(vbd, TdOp.Read, 0, 8, region, 32768),
    // A read elsewhere does not wait.
    request(vbd, TdOp.Read, 800, 8, region, 49152),
  ]);
  stop();
  t.true(results.every((r) => r.status === TdStatus.Ok));
  t.true(memory.subarray(16384, 20480).every((b) => b === 1), 'the first read sees the first write');
  t.true(memory.subarray(32768, 36864).every((b) => b === 2), 'the second read sees the second write');
  // The unrelated read went to the driver with the first write, not after it.
  t.deepEqual(holding.log.slice(0, 2).map((r) => r.sector).sort((a, b) => a - b), [0, 800]);
  await tapdisk.close();
});

test('a flush waits for everything before it and everything after waits for it', async (t) => {
  const tapdisk = new Tapdisk({ aio: null });
  const region = tapdisk.registerRegion(new ArrayBuffer(1 << 16));
  const holding = new HoldingDriver(await openRamDriver(tapdisk));
  const vbd = vbdOver(holding);
  const all = Promise.all([
    request(vbd, TdOp.Write, 0, 8, region), request(vbd, TdOp.Write, 64, 8, region),
    request(vbd, TdOp.Flush, 0, 0, region), request(vbd, TdOp.Write, 128, 8, region),
  ]);
  await tick();
  t.deepEqual(holding.held.map((r) => r.op), [TdOp.Write, TdOp.Write]);
  holding.releaseReversed();
  await tick();
  t.deepEqual(holding.held.map((r) => r.op), [TdOp.Flush]);
  holding.releaseReversed();
  await tick();
  t.deepEqual(holding.held.map((r) => r.sector), [128]);
  holding.releaseReversed();
  t.true((await all).every((r) => r.status === TdStatus.Ok));
  await tapdisk.close();
});

test('contiguous requests queued together reach the driver as one merged operation', async (t) => {
  const tapdisk = new Tapdisk({ aio: null });
  const memory = new Uint8Array(1 << 16);
  const region = tapdisk.registerRegion(memory.buffer);
  const holding = new HoldingDriver(await openRamDriver(tapdisk));
  const vbd = vbdOver(holding);
  for (let i = 0; i < 8; i++) memory.fill(i + 1, i * 4096, (i + 1) * 4096);
  const writes = Array.from({ length: 8 }, (_, i) => request(vbd, TdOp.Write, (7 - i) * 8, 8, region, (7 - i) * 4096));
  await tick();
  t.is(holding.held.length, 1);
  t.is(holding.held[0]!.sectors, 64);
  t.is(holding.held[0]!.segments, 8);
  holding.releaseReversed();
  t.true((await Promise.all(writes)).every((r) => r.status === TdStatus.Ok));
  t.is(vbd.stats().merges, 7);
  t.is(vbd.stats().write.requests, 8);
  memory.fill(0);
  const read = request(vbd, TdOp.Read, 0, 64, region, 0);
  await tick();
  holding.releaseReversed();
  await read;
  for (let i = 0; i < 8; i++) t.is(memory[i * 4096 + 100], i + 1);
  await tapdisk.close();
});

test('queue depth is bounded per VBD', async (t) => {
  const tapdisk = new Tapdisk({ aio: null });
  const region = tapdisk.registerRegion(new ArrayBuffer(1 << 16));
  const holding = new HoldingDriver(await openRamDriver(tapdisk));
  const vbd = vbdOver(holding, { depthMax: 4 });
  const all = Promise.all(Array.from({ length: 20 }, (_, i) => request(vbd, TdOp.Read, i * 16, 8, region)));
  let most = 0;
  while (holding.log.length < 20 || holding.held.length > 0) {
    await tick();
    most = Math.max(most, holding.held.length);
    t.true(holding.held.length <= 4);
    holding.releaseReversed();
  }
  t.is(most, 4);
  t.true((await all).every((r) => r.status === TdStatus.Ok));
  await tapdisk.close();
});

test('VBDs of one process are served round-robin', async (t) => {
  const tapdisk = new Tapdisk({ aio: null });
  const region = tapdisk.registerRegion(new ArrayBuffer(1 << 16));
  const scheduler = new Scheduler(2);
  const order: string[] = [];
  const tagged = async (name: string) => {
    const inner = await openRamDriver(tapdisk);
    return vbdOver({ info: inner.info, close: () => inner.close(), queue: (r) => { order.push(name); inner.queue(r); } }, {}, scheduler);
  };
  const a = await tagged('a');
  const b = await tagged('b');
  // Non-contiguous so nothing merges; a's requests are all queued before b's.
  const all = [
    ...Array.from({ length: 6 }, (_, i) => request(a, TdOp.Read, i * 16, 8, region)),
    ...Array.from({ length: 6 }, (_, i) => request(b, TdOp.Read, i * 16, 8, region)),
  ];
  await Promise.all(all);
  t.deepEqual(order.join(''), 'aabbaabbaabb');
  await tapdisk.close();
});

test('a request the driver does not complete in time fails with EIO; the late completion is ignored', async (t) => {
  const tapdisk = new Tapdisk({ aio: null });
  const region = tapdisk.registerRegion(new ArrayBuffer(1 << 16));
  const holding = new HoldingDriver(await openRamDriver(tapdisk));
  const vbd = vbdOver(holding, { timeoutMs: 40 });
  let calls = 0;
  const req = setRequest(makeRequest(), TdOp.Write, 0, 8, region);
  const first = new Promise<[TdStatus, number]>((resolve) => {
    req.done = (_r, status, errno) => { calls++; resolve([status, errno]); };
  });
  vbd.queue(req);
  // A read of the same sectors is blocked behind the write until the write times out.
  const blocked = request(vbd, TdOp.Read, 0, 8, region);
  const [status, errno] = await first;
  t.is(status, TdStatus.Error);
  t.is(errno, 110);
  t.is(vbd.stats().timeouts, 1);
  // The stuck write was abandoned; the read went on and is held too. Complete everything late.
  await tick();
  holding.completeAll(TdStatus.Ok);
  t.is((await blocked).status, TdStatus.Ok);
  t.is(calls, 1, 'the late completion did not reach the request again');
  // The slot came back: more requests still work.
  const again = request(vbd, TdOp.Read, 8, 8, region);
  await tick();
  holding.releaseReversed();
  t.is((await again).status, TdStatus.Ok);
  await vbd.close();
  await tapdisk.close();
});

test('pause drains, holds new requests, and unpause resumes them', async (t) => {
  const { tapdisk, memory, region, vbd } = await ramSetup('ram:1M?id=pause');
  memory.fill(7, 0, 4096);
  await request(vbd, TdOp.Write, 0, 8, region, 0);
  let resumed = 0;
  vbd.onResume(() => resumed++);
  await vbd.pause();
  t.false(vbd.accepting);
  t.is(vbd.state, 'paused');
  let done = false;
  const held = request(vbd, TdOp.Read, 0, 8, region, 8192).then((r) => { done = true; return r; });
  await tick();
  t.false(done, 'a request queued while paused waits');
  await vbd.unpause();
  t.true(vbd.accepting);
  t.is(resumed, 1);
  t.is((await held).status, TdStatus.Ok);
  t.true(memory.subarray(8192, 12288).every((b) => b === 7), 'the image reopened with its data');
  await tapdisk.close();
});

test('pause waits for requests in flight', async (t) => {
  const tapdisk = new Tapdisk({ aio: null });
  const region = tapdisk.registerRegion(new ArrayBuffer(1 << 16));
  const holding = new HoldingDriver(await openRamDriver(tapdisk));
  const vbd = vbdOver(holding);
  const write = request(vbd, TdOp.Write, 0, 8, region);
  await tick();
  let paused = false;
  const pausing = vbd.pause().then(() => { paused = true; });
  t.false(vbd.accepting);
  await tick();
  t.false(paused);
  holding.releaseReversed();
  await pausing;
  t.is((await write).status, TdStatus.Ok);
  await tapdisk.close();
});

test('unpause refuses another size or sector size and stays paused', async (t) => {
  const { tapdisk, vbd } = await ramSetup('ram:1M');
  await vbd.pause();
  const bigger = await t.throwsAsync(vbd.unpause('ram:2M'));
  t.is((bigger as { code?: string }).code, ERR_SIZE_CHANGED);
  const sector = await t.throwsAsync(vbd.unpause('ram:1M?sector-size=4096'));
  t.is((sector as { code?: string }).code, ERR_SIZE_CHANGED);
  t.is(vbd.state, 'paused');
  await vbd.unpause('ram:1M?id=other');
  t.is(vbd.spec, 'ram:1M?id=other');
  t.deepEqual(vbd.info.chain, ['ram:1M?id=other']);
  const state = await t.throwsAsync(vbd.unpause());
  t.is((state as { code?: string }).code, ERR_VBD_STATE);
  await tapdisk.close();
});

test('after close, queued requests fail', async (t) => {
  const { tapdisk, region, vbd } = await ramSetup();
  await vbd.close();
  t.is(vbd.state, 'closed');
  t.is((await request(vbd, TdOp.Read, 0, 8, region)).status, TdStatus.Error);
  await tapdisk.close();
});

test('null reads zeros and completes everything', async (t) => {
  const tapdisk = new Tapdisk({ aio: null });
  const memory = new Uint8Array(8192).fill(9);
  const region = tapdisk.registerRegion(memory.buffer);
  const vbd = await tapdisk.open('null:1G');
  t.is(vbd.info.sectors, 2 * 1024 * 1024);
  t.is((await request(vbd, TdOp.Write, 100, 16, region)).status, TdStatus.Ok);
  t.is((await request(vbd, TdOp.Read, 100, 16, region)).status, TdStatus.Ok);
  t.true(memory.every((b) => b === 0));
  t.is((await request(vbd, TdOp.Flush, 0, 0, region)).status, TdStatus.Ok);
  t.is((await request(vbd, TdOp.Discard, 0, 8, region)).status, TdStatus.Ok);
  await tapdisk.close();
});

test('a segment outside its region fails the request instead of throwing', async (t) => {
  const tapdisk = new Tapdisk({ aio: null });
  const region = tapdisk.registerRegion(new ArrayBuffer(4096));
  const vbd = await tapdisk.open('ram:1M');
  const req: TdRequest = setRequest(makeRequest(), TdOp.Read, 0, 16, region);
  t.is((await submit(vbd, req)).status, TdStatus.Error);
  const unknown = setRequest(makeRequest(), TdOp.Read, 0, 8, 999);
  t.is((await submit(vbd, unknown)).status, TdStatus.Error);
  await tapdisk.close();
});
