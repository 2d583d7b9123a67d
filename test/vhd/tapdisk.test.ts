/**
 * The VHD driver behind the tapdisk core: `vhd:/path` through the static registry and a VBD
 * (scheduler, merging, ordering), requests pointing into a registered region; the driver moves
 * guest bytes by preadv/pwritev, so the VBD's CPU-copy counter stays at zero.
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TdOp, TdStatus } from '../../src/tapdisk/api.js';
import { Tapdisk } from '../../src/tapdisk/tapdisk.js';
import { createVhd, openVhd } from '../../src/tapdisk/drivers/vhd/index.js';
import type { VhdDriver } from '../../src/tapdisk/drivers/vhd/driver.js';
import { AioFileIo } from '../../src/tapdisk/fileio.js';
import { native } from '../../src/native/index.js';
import { checkVhd } from '../../src/tapdisk/drivers/vhd/ops/check.js';
import { makeRequest, request, setRequest } from '../tapdisk/helpers.js';
import type { ImageDriver } from '../../src/tapdisk/api.js';
import { pattern, prng, tempDir } from './helpers.js';

test('vhd:/path opens through the registry; writes then reads through a VBD; zero bytes copied', async (t) => {
  const dir = tempDir(t);
  const base = join(dir, 'base.vhd');
  const leaf = join(dir, 'leaf.vhd');
  await createVhd({ path: base, type: 'dynamic', size: 8 * 1024 * 1024 });
  await createVhd({ path: leaf, type: 'differencing', parent: base });
  const tapdisk = new Tapdisk({ aio: null });
  t.teardown(() => tapdisk.close());
  const memory = new Uint8Array(1 << 20);
  const region = tapdisk.registerRegion(memory.buffer);
  const vbd = await tapdisk.open(`vhd:${leaf}`);
  memory.set(pattern(65536, 9), 0);
  t.is((await request(vbd, TdOp.Write, 4000, 128, region, 0)).status, TdStatus.Ok);
  t.is((await request(vbd, TdOp.Flush, 0, 0, region, 0)).status, TdStatus.Ok);
  t.is((await request(vbd, TdOp.Read, 4000, 128, region, 65536)).status, TdStatus.Ok);
  t.true(Buffer.from(memory.subarray(65536, 131072)).equals(Buffer.from(pattern(65536, 9))));
  t.is(vbd.stats().bytesCopied, 0);
  await tapdisk.close();
  t.is((await checkVhd(leaf)).verdict, 'clean');
});

test('vhd:/path?chain-depth-max=1 refuses a differencing disk with SPLITBLK_ERR_CHAIN_DEPTH', async (t) => {
  const dir = tempDir(t);
  const base = join(dir, 'base.vhd');
  const leaf = join(dir, 'leaf.vhd');
  await createVhd({ path: base, type: 'dynamic', size: 1024 * 1024 });
  await createVhd({ path: leaf, type: 'differencing', parent: base });
  const tapdisk = new Tapdisk({ aio: null });
  t.teardown(() => tapdisk.close());
  const e = await t.throwsAsync(tapdisk.open(`vhd:${leaf}?chain-depth-max=1`));
  t.is((e as { code?: string }).code, 'SPLITBLK_ERR_CHAIN_DEPTH');
});

/** One request straight on a driver (no VBD), segments of 4 KiB as blkback would build them. */
function direct(d: ImageDriver, op: TdOp, sector: number, sectors: number, region: number, offset: number): Promise<{ status: TdStatus }> {
  const req = setRequest(makeRequest(Math.max(1, Math.ceil(sectors / 8))), op, sector, sectors, region, offset);
  return new Promise((resolve) => {
    req.done = (_r, status) => resolve({ status });
    d.queue(req);
  });
}

test('with native AIO: requests inside present blocks take the fast path; contents match a model', async (t) => {
  const dir = tempDir(t);
  const base = join(dir, 'base.vhd');
  const leaf = join(dir, 'leaf.vhd');
  const size = 8 * 1024 * 1024;
  await createVhd({ path: base, type: 'dynamic', size });
  await createVhd({ path: leaf, type: 'differencing', parent: base });
  const aio = native.aio.create({ depthMax: 64, iovecsMax: 4096, engine: 'threads' });
  const memory = new Uint8Array(new ArrayBuffer(2 * 1024 * 1024));
  const region = aio.registerRegion(memory.buffer);
  const regions = { view: (r: number) => (r === region ? memory : new Uint8Array(0)) };
  const driver = (await openVhd(leaf, {}, { regions, fileIo: new AioFileIo(aio), depthMax: 64 })) as VhdDriver;
  t.teardown(async () => {
    aio.unregisterRegion(region);
    await aio.close();
  });
  const model = new Uint8Array(size);
  const rnd = prng(5);
  for (let i = 0; i < 200; i++) {
    const sectors = 1 + Math.floor(rnd() * 64);
    // Mostly in the first two blocks, so later requests find them present.
    const sector = Math.floor(rnd() * (i < 100 ? 8192 - sectors : size / 512 - sectors));
    if (rnd() < 0.5) {
      memory.set(pattern(sectors * 512, i), 0);
      model.set(memory.subarray(0, sectors * 512), sector * 512);
      t.is((await direct(driver, TdOp.Write, sector, sectors, region, 0)).status, TdStatus.Ok);
    } else {
      t.is((await direct(driver, TdOp.Read, sector, sectors, region, 65536)).status, TdStatus.Ok);
      t.true(Buffer.from(memory.subarray(65536, 65536 + sectors * 512)).equals(Buffer.from(model.subarray(sector * 512, (sector + sectors) * 512))), `request ${i}`);
    }
  }
  // A full block written once makes every later request inside it fast.
  memory.fill(0x42, 0, 1024 * 1024);
  t.is((await direct(driver, TdOp.Write, 8192, 2048, region, 0)).status, TdStatus.Ok);
  t.is((await direct(driver, TdOp.Write, 8192 + 2048, 2048, region, 0)).status, TdStatus.Ok);
  model.fill(0x42, 8192 * 512, (8192 + 4096) * 512);
  const before = driver.fastRequests;
  for (let i = 0; i < 20; i++) {
    const sectors = 1 + Math.floor(rnd() * 64);
    const sector = 8192 + Math.floor(rnd() * (4096 - sectors));
    if (i % 2 === 0) {
      memory.set(pattern(sectors * 512, 1000 + i), 0);
      model.set(memory.subarray(0, sectors * 512), sector * 512);
      t.is((await direct(driver, TdOp.Write, sector, sectors, region, 0)).status, TdStatus.Ok);
    } else {
      t.is((await direct(driver, TdOp.Read, sector, sectors, region, 65536)).status, TdStatus.Ok);
      t.true(Buffer.from(memory.subarray(65536, 65536 + sectors * 512)).equals(Buffer.from(model.subarray(sector * 512, (sector + sectors) * 512))));
    }
  }
  t.is(driver.fastRequests, before + 20);
  await driver.close();
  t.is((await checkVhd(leaf)).verdict, 'clean');
});

test('with native AIO: a fixed disk goes straight to the file', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'f.vhd');
  await createVhd({ path, type: 'fixed', size: 1024 * 1024 });
  const aio = native.aio.create({ depthMax: 16, iovecsMax: 1024, engine: 'threads' });
  const memory = new Uint8Array(new ArrayBuffer(65536));
  const region = aio.registerRegion(memory.buffer);
  const regions = { view: (r: number) => (r === region ? memory : new Uint8Array(0)) };
  const driver = (await openVhd(path, {}, { regions, fileIo: new AioFileIo(aio), depthMax: 16 })) as VhdDriver;
  t.teardown(async () => {
    aio.unregisterRegion(region);
    await aio.close();
  });
  memory.set(pattern(8192, 3), 0);
  t.is((await direct(driver, TdOp.Write, 2047 - 15, 16, region, 0)).status, TdStatus.Ok);
  t.is(driver.fastRequests, 1);
  await driver.close();
  t.true(readFileSync(path).subarray((2047 - 15) * 512, 2048 * 512).equals(Buffer.from(pattern(8192, 3))));
  t.is((await checkVhd(path)).verdict, 'clean');
});
