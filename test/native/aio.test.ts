import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import test, { type ExecutionContext } from 'ava';

import { AioOp, AioTables, native, PAGE_SIZE, type AioContext, type AioContextOptions } from '../../src/native/index.js';
import type { SplitblkError } from '../../src/util/errors.js';
import { tempDir } from './helpers.js';

type Engine = 'io_uring' | 'threads';

const EBADF = 9;
const EFAULT = 14;
const EINVAL = 22;
const EOPNOTSUPP = 95;

const engines: Engine[] = native.aio.ioUringAvailable() ? ['io_uring', 'threads'] : ['threads'];
if (engines.length === 1) {
  // Where io_uring is disabled (io_uring_disabled, seccomp) the fallback is all we can test.
  console.log('io_uring is unavailable here: testing the thread-pool engine only');
}

interface Harness {
  context: AioContext;
  tables: AioTables;
  fd: number;
  file: string;
  /** Submits entries [0, count) and resolves with userData -> result once all completed. */
  run(count: number): Promise<Map<number, number>>;
  batches: number[];
}

/** Offloading options: every transfer of at least 64 KiB goes to a worker. */
const offloadAll: Partial<AioContextOptions> = { offloadMinBytes: 64 * 1024, offloadInFlightMinBytes: 0 };

/** A context plus a data file (on a disk filesystem: tmpfs lacks FALLOC_FL_ZERO_RANGE). */
function harness(t: ExecutionContext, engine: Engine, depthMax = 16, iovecsMax = 64, opts: Partial<AioContextOptions> = {}): Harness {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'splitblk-aio-'));
  const file = path.join(dir, 'disk.img');
  const fd = fs.openSync(file, 'w+');
  const context = native.aio.create({ depthMax, iovecsMax, engine, threads: 2, ...opts });
  t.teardown(async () => {
    await context.close();
    fs.closeSync(fd);
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const tables = new AioTables(context);
  const batches: number[] = [];
  const h: Harness = {
    context,
    tables,
    fd,
    file,
    batches,
    run(count) {
      return new Promise((resolve) => {
        const results = new Map<number, number>();
        context.onComplete = (n) => {
          batches.push(n);
          for (let i = 0; i < n; i++) results.set(tables.completionUserData(i), tables.completionResult(i));
          if (results.size === count) resolve(results);
        };
        t.is(context.submit(count), count);
      });
    },
  };
  return h;
}

function pattern(bytes: number, seed: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) out[i] = (i * 31 + seed) & 0xff;
  return out;
}

for (const engine of engines) {
  test(`${engine}: the engine asked for is the engine used`, (t) => {
    const h = harness(t, engine);
    t.is(h.context.engine, engine);
    t.is(h.context.submissions.byteLength, 16 * 32);
    t.is(h.context.iovecs.byteLength, 64 * 16);
    t.is(h.context.completions.byteLength, 16 * 8);
  });

  test(`${engine}: a vectored write from two regions reads back into two others`, async (t) => {
    const h = harness(t, engine);
    const a = pattern(PAGE_SIZE, 1);
    const b = pattern(2 * PAGE_SIZE, 2);
    const ra = h.context.registerRegion(a.buffer);
    const rb = h.context.registerRegion(b.buffer);
    h.tables.setIovec(0, ra, 512, 1024);
    h.tables.setIovec(1, rb, PAGE_SIZE, PAGE_SIZE);
    h.tables.setSubmission(0, AioOp.Writev, h.fd, 1, 8192, 0, 2);
    t.deepEqual([...(await h.run(1))], [[1, 1024 + PAGE_SIZE]]);

    const c = new Uint8Array(1024 + 100);
    const d = new Uint8Array(PAGE_SIZE);
    const rc = h.context.registerRegion(c.buffer);
    const rd = h.context.registerRegion(d.buffer);
    h.tables.setIovec(5, rc, 100, 1024);
    h.tables.setIovec(6, rd, 0, PAGE_SIZE);
    h.tables.setSubmission(0, AioOp.Readv, h.fd, 2, 8192, 5, 2);
    t.deepEqual([...(await h.run(1))], [[2, 1024 + PAGE_SIZE]]);
    t.deepEqual(c.subarray(100), a.subarray(512, 512 + 1024));
    t.true(c.subarray(0, 100).every((x) => x === 0));
    t.deepEqual(d, b.subarray(PAGE_SIZE));
    // And the file holds what an ordinary read sees.
    t.deepEqual(new Uint8Array(fs.readFileSync(h.file).subarray(8192 + 1024, 8192 + 1024 + PAGE_SIZE)), b.subarray(PAGE_SIZE));
  });

  test(`${engine}: reading past the end completes short, with the count`, async (t) => {
    const h = harness(t, engine);
    fs.writeSync(h.fd, pattern(1000, 3), 0, 1000, 0);
    const buf = new Uint8Array(PAGE_SIZE);
    h.tables.setIovec(0, h.context.registerRegion(buf.buffer), 0, PAGE_SIZE);
    h.tables.setSubmission(0, AioOp.Readv, h.fd, 9, 0, 0, 1);
    t.is((await h.run(1)).get(9), 1000);
  });

  test(`${engine}: fdatasync and fsync complete with 0`, async (t) => {
    const h = harness(t, engine);
    fs.writeSync(h.fd, 'x');
    h.tables.setSubmission(0, AioOp.Fdatasync, h.fd, 1, 0);
    h.tables.setSubmission(1, AioOp.Fsync, h.fd, 2, 0);
    t.deepEqual([...(await h.run(2))].sort(), [[1, 0], [2, 0]]);
  });

  test(`${engine}: punched holes and zeroed ranges read back as zeros, size kept`, async (t) => {
    const h = harness(t, engine);
    fs.writeSync(h.fd, new Uint8Array(16 * PAGE_SIZE).fill(0xab), 0, 16 * PAGE_SIZE, 0);
    h.tables.setSubmission(0, AioOp.PunchHole, h.fd, 1, 2 * PAGE_SIZE, 0, 0, 3 * PAGE_SIZE);
    h.tables.setSubmission(1, AioOp.ZeroRange, h.fd, 2, 8 * PAGE_SIZE, 0, 0, 2 * PAGE_SIZE);
    const results = await h.run(2);
    t.is(results.get(1), 0);
    const zeroRange = results.get(2);
    const data = fs.readFileSync(h.file);
    t.is(data.length, 16 * PAGE_SIZE);
    t.true(data.subarray(2 * PAGE_SIZE, 5 * PAGE_SIZE).every((x) => x === 0));
    t.true(data.subarray(0, 2 * PAGE_SIZE).every((x) => x === 0xab));
    t.true(data.subarray(5 * PAGE_SIZE, 8 * PAGE_SIZE).every((x) => x === 0xab));
    if (zeroRange === -EOPNOTSUPP) {
      t.log(`${os.tmpdir()} does not support FALLOC_FL_ZERO_RANGE; checked the error only`);
    } else {
      t.is(zeroRange, 0);
      t.true(data.subarray(8 * PAGE_SIZE, 10 * PAGE_SIZE).every((x) => x === 0));
      t.true(data.subarray(10 * PAGE_SIZE).every((x) => x === 0xab));
    }
  });

  test(`${engine}: an out-of-bounds iovec fails the operation with -EFAULT and touches nothing`, async (t) => {
    const h = harness(t, engine);
    fs.writeSync(h.fd, new Uint8Array(2 * PAGE_SIZE).fill(0x11), 0, 2 * PAGE_SIZE, 0);
    const good = new Uint8Array(PAGE_SIZE).fill(0x22);
    const small = new Uint8Array(100).fill(0x33);
    const rg = h.context.registerRegion(good.buffer);
    const rs = h.context.registerRegion(small.buffer);
    const gone = h.context.registerRegion(new ArrayBuffer(PAGE_SIZE));
    h.context.unregisterRegion(gone);
    h.tables.setIovec(0, rg, 0, PAGE_SIZE);
    h.tables.setIovec(1, rs, 50, 51); // one byte past the region's end
    h.tables.setIovec(2, rg, 0, 16);
    h.tables.setIovec(3, 4242, 0, 16); // no such region
    h.tables.setIovec(4, gone, 0, 16); // unregistered
    h.tables.setIovec(5, rs, 0xffffffff, 1); // offset overflow
    h.tables.setSubmission(0, AioOp.Readv, h.fd, 1, 0, 0, 2);
    h.tables.setSubmission(1, AioOp.Writev, h.fd, 2, 0, 0, 2);
    h.tables.setSubmission(2, AioOp.Readv, h.fd, 3, 0, 2, 2);
    h.tables.setSubmission(3, AioOp.Readv, h.fd, 4, 0, 4, 1);
    h.tables.setSubmission(4, AioOp.Readv, h.fd, 5, 0, 5, 1);
    const results = await h.run(5);
    t.deepEqual([...results.values()], [-EFAULT, -EFAULT, -EFAULT, -EFAULT, -EFAULT]);
    t.true(good.every((x) => x === 0x22));
    t.true(small.every((x) => x === 0x33));
    t.true(fs.readFileSync(h.file).every((x) => x === 0x11));
  });

  test(`${engine}: errors complete as -errno`, async (t) => {
    const h = harness(t, engine, 16, 4);
    const buf = new Uint8Array(PAGE_SIZE);
    h.tables.setIovec(0, h.context.registerRegion(buf.buffer), 0, 16);
    h.tables.setSubmission(0, AioOp.Readv, 987654, 1, 0, 0, 1); // bad fd
    h.tables.setSubmission(1, AioOp.Fdatasync, -1, 2, 0);
    h.tables.setSubmission(2, 99 as AioOp, h.fd, 3, 0); // unknown op
    h.tables.setSubmission(3, AioOp.Readv, h.fd, 4, 0, 3, 2); // iovecs past the table
    h.tables.setSubmission(4, AioOp.Readv, h.fd, 5, 0, 0, 0); // no iovecs
    h.tables.setSubmission(5, AioOp.Readv, h.fd, 6, 0.5, 0, 1); // fractional offset
    h.tables.setSubmission(6, AioOp.PunchHole, h.fd, 7, 0, 0, 0, 0); // empty range
    const results = await h.run(7);
    t.deepEqual(
      [1, 2, 3, 4, 5, 6, 7].map((u) => results.get(u)),
      [-EBADF, -EBADF, -EINVAL, -EINVAL, -EINVAL, -EINVAL, -EINVAL],
    );
  });

  test(`${engine}: 64 submissions complete in batches, each exactly once`, async (t) => {
    const h = harness(t, engine, 64, 64);
    const data = pattern(64 * 512, 5);
    const region = h.context.registerRegion(data.buffer);
    for (let i = 0; i < 64; i++) {
      h.tables.setIovec(i, region, i * 512, 512);
      h.tables.setSubmission(i, AioOp.Writev, h.fd, 1000 + i, i * 512, i, 1);
    }
    const results = await h.run(64);
    t.is(results.size, 64);
    for (let i = 0; i < 64; i++) t.is(results.get(1000 + i), 512);
    t.is(h.batches.reduce((sum, n) => sum + n, 0), 64);
    t.log(`${h.batches.length} onComplete calls`);
    t.deepEqual(new Uint8Array(fs.readFileSync(h.file)), data);
    t.is(h.context.inFlight(), 0);
  });

  test(`${engine}: a whole batch of failing entries completes, each with its error`, async (t) => {
    const h = harness(t, engine, 64, 64);
    const buf = new Uint8Array(64);
    const region = h.context.registerRegion(buf.buffer);
    for (let i = 0; i < 64; i++) {
      h.tables.setIovec(i, region, i, 1);
      h.tables.setSubmission(i, i % 2 === 0 ? AioOp.Readv : AioOp.Fdatasync, 1_000_000 + i, i, 0, i, 1);
    }
    const results = await h.run(64);
    t.deepEqual([...new Set(results.values())], [-EBADF]);
    t.is(results.size, 64);
  });

  test(`${engine}: completions are never delivered inside submit(), and resubmitting from onComplete lets the loop run`, async (t) => {
    const h = harness(t, engine, 4, 8);
    fs.writeSync(h.fd, pattern(4 * PAGE_SIZE, 9));
    const buf = new Uint8Array(4 * PAGE_SIZE);
    const region = h.context.registerRegion(buf.buffer);
    // Page-cache reads: io_uring completes them inside io_uring_enter, and they are handed to
    // onComplete right after submit() returns; a consumer that always resubmits must still let
    // other callbacks (here setImmediate) run.
    let inSubmit = false;
    let nested = 0;
    let completions = 0;
    let loopTurned = false;
    setImmediate(() => { loopTurned = true; });
    const submit = (n: number): void => {
      for (let i = 0; i < n; i++) {
        h.tables.setIovec(i, region, i * PAGE_SIZE, PAGE_SIZE);
        h.tables.setSubmission(i, AioOp.Readv, h.fd, i, i * PAGE_SIZE, i, 1);
      }
      inSubmit = true;
      t.is(h.context.submit(n), n);
      inSubmit = false;
    };
    await new Promise<void>((resolve) => {
      h.context.onComplete = (n) => {
        if (inSubmit) nested++;
        for (let i = 0; i < n; i++) t.is(h.tables.completionResult(i), PAGE_SIZE);
        completions += n;
        if (loopTurned && h.context.inFlight() === 0) resolve();
        else if (!loopTurned) submit(n);
      };
      submit(4);
    });
    t.is(nested, 0);
    t.true(loopTurned);
    t.log(`${completions} completions before the loop turned`);
    t.deepEqual(buf, pattern(4 * PAGE_SIZE, 9));
  });

  test(`${engine}: submit accepts only as many as there are free slots`, async (t) => {
    const h = harness(t, engine, 4, 8);
    for (let i = 0; i < 4; i++) h.tables.setSubmission(i, AioOp.Fdatasync, h.fd, i, 0);
    let completed = 0;
    const done = new Promise<void>((resolve) => {
      h.context.onComplete = (n) => {
        completed += n;
        if (completed === 6) resolve();
      };
    });
    t.is(h.context.submit(4), 4);
    t.is(h.context.inFlight(), 4);
    t.is(h.context.submit(2), 0);
    // Slots free up as completions are delivered; submitting from onComplete works.
    const before = h.context.onComplete!;
    let resubmitted = 0;
    h.context.onComplete = (n) => {
      before(n);
      if (resubmitted < 2) resubmitted += h.context.submit(Math.min(n, 2 - resubmitted));
    };
    await done;
    t.is(completed, 6);
    t.is((t.throws(() => h.context.submit(5)) as Error).name, 'RangeError');
  });

  test(`${engine}: zero-copy between shared-memory mappings and a file`, async (t) => {
    const h = harness(t, engine);
    const { dir, cleanup } = tempDir('aio');
    t.teardown(cleanup);
    const shm = native.shm.create(path.join(dir, 'guest'), 4 * PAGE_SIZE);
    const whole = shm.map(0, 4 * PAGE_SIZE, true);
    new Uint8Array(whole.buffer).set(pattern(PAGE_SIZE, 7), 3 * PAGE_SIZE);
    // A grant-style view: file pages [3, 0], written to disk, read back into page 0 via [0].
    const source = shm.mapPages(new Uint32Array([3, 0]), 2, false);
    const target = shm.mapPages(new Uint32Array([1]), 1, true);
    const rs = h.context.registerRegion(source.buffer);
    const rt = h.context.registerRegion(target.buffer);
    h.tables.setIovec(0, rs, 0, PAGE_SIZE);
    h.tables.setSubmission(0, AioOp.Writev, h.fd, 1, 0, 0, 1);
    t.is((await h.run(1)).get(1), PAGE_SIZE);
    h.tables.setIovec(0, rt, 0, PAGE_SIZE);
    h.tables.setSubmission(0, AioOp.Readv, h.fd, 2, 0, 0, 1);
    t.is((await h.run(1)).get(2), PAGE_SIZE);
    t.deepEqual(new Uint8Array(whole.buffer, PAGE_SIZE, PAGE_SIZE), pattern(PAGE_SIZE, 7));
    // Reading into a read-only mapping is refused by the kernel, not a crash.
    h.tables.setIovec(0, rs, 0, PAGE_SIZE);
    h.tables.setSubmission(0, AioOp.Readv, h.fd, 3, 0, 0, 1);
    t.is((await h.run(1)).get(3), -EFAULT);
    h.context.unregisterRegion(rs);
    h.context.unregisterRegion(rt);
    for (const m of [source, target, whole]) m.close();
    shm.close();
  });

  test(`${engine}: close() waits for in-flight I/O, then refuses submissions and detaches the tables`, async (t) => {
    const context = native.aio.create({ depthMax: 4, iovecsMax: 4, engine });
    const tables = new AioTables(context);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'splitblk-aio-'));
    t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
    const fd = fs.openSync(path.join(dir, 'f'), 'w+');
    const buf = new Uint8Array(PAGE_SIZE).fill(9);
    const region = context.registerRegion(buf.buffer);
    tables.setIovec(0, region, 0, PAGE_SIZE);
    tables.setSubmission(0, AioOp.Writev, fd, 1, 0, 0, 1);
    let delivered = 0;
    context.onComplete = (n) => (delivered += n);
    t.is(context.submit(1), 1);
    // Unregistering with I/O in flight keeps the memory alive until it completes.
    context.unregisterRegion(region);
    await context.close();
    t.is(delivered, 1);
    t.is(context.inFlight(), 0);
    t.is(context.submissions.byteLength, 0);
    t.is((t.throws(() => context.submit(1)) as SplitblkError).code, 'SPLITBLK_ERR_CLOSED');
    await context.close();
    t.is(fs.fstatSync(fd).size, PAGE_SIZE);
    fs.closeSync(fd);
  });
}

for (const engine of engines) {
  test(`${engine}: offloaded large writes and reads, beside inline small ones, move the right bytes`, async (t) => {
    const h = harness(t, engine, 16, 256, offloadAll);
    const big = 128 * 1024;
    const pages = big / PAGE_SIZE;
    // Four 128 KiB writes, each gathered from 32 scattered pages of one region (as a request's
    // granted pages are), and one 4 KiB write that stays inline.
    const source = pattern(4 * big + PAGE_SIZE, 11);
    const rs = h.context.registerRegion(source.buffer);
    for (let w = 0; w < 4; w++) {
      for (let p = 0; p < pages; p++) h.tables.setIovec(w * pages + p, rs, w * big + (pages - 1 - p) * PAGE_SIZE, PAGE_SIZE);
      h.tables.setSubmission(w, AioOp.Writev, h.fd, 10 + w, w * big, w * pages, pages);
    }
    h.tables.setIovec(4 * pages, rs, 4 * big, PAGE_SIZE);
    h.tables.setSubmission(4, AioOp.Writev, h.fd, 14, 4 * big, 4 * pages, 1);
    const written = await h.run(5);
    t.deepEqual([10, 11, 12, 13, 14].map((u) => written.get(u)), [big, big, big, big, PAGE_SIZE]);
    const expected = new Uint8Array(4 * big + PAGE_SIZE);
    for (let w = 0; w < 4; w++) {
      for (let p = 0; p < pages; p++) expected.set(source.subarray(w * big + (pages - 1 - p) * PAGE_SIZE, w * big + (pages - p) * PAGE_SIZE), w * big + p * PAGE_SIZE);
    }
    expected.set(source.subarray(4 * big), 4 * big);
    t.deepEqual(new Uint8Array(fs.readFileSync(h.file)), expected);

    // Read it all back, big reads scattered over two regions in reverse page order.
    const a = new Uint8Array(2 * big);
    const b = new Uint8Array(2 * big + PAGE_SIZE);
    const ra = h.context.registerRegion(a.buffer);
    const rb = h.context.registerRegion(b.buffer);
    for (let r = 0; r < 4; r++) {
      const [region, base] = r < 2 ? [ra, r * big] : [rb, (r - 2) * big];
      for (let p = 0; p < pages; p++) h.tables.setIovec(r * pages + p, region, base + (pages - 1 - p) * PAGE_SIZE, PAGE_SIZE);
      h.tables.setSubmission(r, AioOp.Readv, h.fd, 20 + r, r * big, r * pages, pages);
    }
    h.tables.setIovec(4 * pages, rb, 2 * big, PAGE_SIZE);
    h.tables.setSubmission(4, AioOp.Readv, h.fd, 24, 4 * big, 4 * pages, 1);
    const read = await h.run(5);
    t.deepEqual([20, 21, 22, 23, 24].map((u) => read.get(u)), [big, big, big, big, PAGE_SIZE]);
    const back = new Uint8Array(4 * big + PAGE_SIZE);
    for (let r = 0; r < 4; r++) {
      const from = r < 2 ? a.subarray(r * big, (r + 1) * big) : b.subarray((r - 2) * big, (r - 1) * big);
      for (let p = 0; p < pages; p++) back.set(from.subarray((pages - 1 - p) * PAGE_SIZE, (pages - p) * PAGE_SIZE), r * big + p * PAGE_SIZE);
    }
    back.set(b.subarray(2 * big), 4 * big);
    t.deepEqual(back, expected);
    t.is(h.context.inFlight(), 0);
  });

  test(`${engine}: offloaded transfers still fail with -errno`, async (t) => {
    const h = harness(t, engine, 16, 64, offloadAll);
    const big = 64 * 1024;
    fs.writeSync(h.fd, pattern(big, 12), 0, big, 0);
    const readOnly = fs.openSync(h.file, 'r');
    t.teardown(() => fs.closeSync(readOnly));
    const { dir, cleanup } = tempDir('aio-offload');
    t.teardown(cleanup);
    const shm = native.shm.create(path.join(dir, 'guest'), big);
    const ro = shm.map(0, big, false);
    const buf = new Uint8Array(big);
    const region = h.context.registerRegion(buf.buffer);
    const roRegion = h.context.registerRegion(ro.buffer);
    h.tables.setIovec(0, region, 0, big);
    h.tables.setIovec(1, roRegion, 0, big);
    h.tables.setSubmission(0, AioOp.Writev, readOnly, 1, 0, 0, 1); // write through an O_RDONLY fd
    h.tables.setSubmission(1, AioOp.Readv, 987654, 2, 0, 0, 1); // no such fd
    h.tables.setSubmission(2, AioOp.Readv, h.fd, 3, 0, 1, 1); // into read-only memory
    h.tables.setSubmission(3, AioOp.Readv, h.fd, 4, big, 0, 1); // at the end of the file
    const results = await h.run(4);
    t.deepEqual([1, 2, 3, 4].map((u) => results.get(u)), [-EBADF, -EBADF, -EFAULT, 0]);
    t.true(buf.every((x) => x === 0));
    h.context.unregisterRegion(roRegion);
    ro.close();
    shm.close();
  });

  test(`${engine}: close() with offloaded transfers in flight delivers them all first`, async (t) => {
    const context = native.aio.create({ depthMax: 8, iovecsMax: 8, engine, ...offloadAll });
    const tables = new AioTables(context);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'splitblk-aio-'));
    t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
    const fd = fs.openSync(path.join(dir, 'f'), 'w+');
    const big = 256 * 1024;
    const data = pattern(8 * big, 13);
    const region = context.registerRegion(data.buffer);
    for (let i = 0; i < 8; i++) {
      tables.setIovec(i, region, i * big, big);
      tables.setSubmission(i, AioOp.Writev, fd, i, i * big, i, 1);
    }
    const results: number[] = [];
    context.onComplete = (n) => {
      for (let i = 0; i < n; i++) results.push(tables.completionResult(i));
    };
    t.is(context.submit(8), 8);
    context.unregisterRegion(region);
    await context.close();
    t.deepEqual(results, new Array<number>(8).fill(big));
    t.is(context.inFlight(), 0);
    t.deepEqual(new Uint8Array(fs.readFileSync(path.join(dir, 'f'))), data);
    fs.closeSync(fd);
  });
}

test('offload options are checked like the other sizes', (t) => {
  for (const bad of [-1, 0.5, Number.NaN]) {
    t.throws(() => native.aio.create({ depthMax: 2, iovecsMax: 2, offloadMinBytes: bad }));
    t.throws(() => native.aio.create({ depthMax: 2, iovecsMax: 2, offloadInFlightMinBytes: bad }));
  }
});

test('auto picks io_uring when it is available, else threads', async (t) => {
  const context = native.aio.create({ depthMax: 2, iovecsMax: 2 });
  t.is(context.engine, native.aio.ioUringAvailable() ? 'io_uring' : 'threads');
  await context.close();
  t.is((t.throws(() => native.aio.create({ depthMax: 0, iovecsMax: 2 })) as Error).name, 'RangeError');
});
