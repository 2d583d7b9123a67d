/**
 * The VHD driver through the ImageDriver interface: requests with segments over a RegionTable
 * of plain ArrayBuffers, real files in a temp dir, results compared with an in-memory model.
 */
import test from 'ava';
import { readFileSync, writeFileSync, truncateSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { TdOp, TdStatus } from '../../src/tapdisk/api.js';
import { createVhd, openVhd, openVhdChain, VhdFile } from '../../src/tapdisk/drivers/vhd/index.js';
import { checkVhd } from '../../src/tapdisk/drivers/vhd/ops/check.js';
import { BAT_UNUSED, bitTest, encodeHeader, parseHeader, HEADER_SIZE } from '../../src/vhd/index.js';
import { Regions, pattern, prng, submit, tempDir } from './helpers.js';

const MiB = 1024 * 1024;

async function exercise(t: import('ava').ExecutionContext, path: string, size: number, seed: number, model: Uint8Array) {
  const regions = new Regions();
  const d = await openVhd(path, {}, { regions });
  t.is(d.info.sectors, size / 512);
  const rnd = prng(seed);
  t.log(`seed ${seed}`);
  const pending: Promise<{ status: TdStatus }>[] = [];
  const ranges: [number, number][] = [];
  for (let i = 0; i < 40; i++) {
    const sectors = 1 + Math.floor(rnd() * 600);
    const sector = Math.floor(rnd() * (size / 512 - sectors));
    // Several writes in flight at once, none overlapping one still in flight (ordering
    // overlapping requests is the scheduler's job, not the driver's).
    if (pending.length === 4 || ranges.some(([a, n]) => a < sector + sectors && sector < a + n)) {
      for (const r of await Promise.all(pending.splice(0))) t.is(r.status, TdStatus.Ok);
      ranges.length = 0;
    }
    const data = pattern(sectors * 512, seed * 1000 + i);
    model.set(data, sector * 512);
    ranges.push([sector, sectors]);
    pending.push(submit(d, regions, TdOp.Write, sector, data, 1536 + 512 * (i % 5)));
  }
  for (const r of await Promise.all(pending)) t.is(r.status, TdStatus.Ok);
  t.is((await submit(d, regions, TdOp.Flush, 0, new Uint8Array(0))).status, TdStatus.Ok);
  const back = new Uint8Array(size);
  for (let s = 0; s < size; s += 4 * MiB) {
    const r = await submit(d, regions, TdOp.Read, s / 512, back.subarray(s, s + 4 * MiB), 4096);
    t.is(r.status, TdStatus.Ok);
  }
  t.true(Buffer.from(back).equals(Buffer.from(model)), 'read back what was written');
  await d.close();
}

test('dynamic: random writes and reads across blocks match a model; check is clean', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'd.vhd');
  const size = 24 * MiB;
  await createVhd({ path, type: 'dynamic', size });
  const model = new Uint8Array(size);
  await exercise(t, path, size, 7, model);
  const r = await checkVhd(path);
  t.deepEqual(r.corruptions, []);
  t.is(r.verdict, 'clean');
});

test('fixed: writes and reads land at the same offsets in the file', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'f.vhd');
  const size = 8 * MiB;
  await createVhd({ path, type: 'fixed', size });
  t.is(statSync(path).size, size + 512);
  const model = new Uint8Array(size);
  await exercise(t, path, size, 11, model);
  t.true(readFileSync(path).subarray(0, size).equals(Buffer.from(model)));
});

test('concurrent writes into one unallocated block allocate it once', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'c.vhd');
  await createVhd({ path, type: 'dynamic', size: 8 * MiB });
  const regions = new Regions();
  const d = await openVhd(path, {}, { regions });
  const writes = Array.from({ length: 16 }, (_, i) => submit(d, regions, TdOp.Write, 4096 + i * 8, new Uint8Array(4096).fill(i + 1)));
  for (const r of await Promise.all(writes)) t.is(r.status, TdStatus.Ok);
  await d.close();
  const vhd = await VhdFile.open(path, false);
  t.is(Array.from(vhd.bat).filter((e) => e !== BAT_UNUSED).length, 1);
  t.true(vhd.batmapFull(1), 'a dynamic disk marks a new block fully present');
  await vhd.close();
  const io = await openVhdChain(path, { readonly: true });
  const buf = new Uint8Array(16 * 4096);
  await io.read(4096, 128, [buf]);
  for (let i = 0; i < 16; i++) t.is(buf[i * 4096], i + 1);
  await io.close();
  t.is((await checkVhd(path)).verdict, 'clean');
});

test('differencing on a VHD parent: bitmap per sector, parent for the rest, zeros past a smaller parent', async (t) => {
  const dir = tempDir(t);
  const base = join(dir, 'base.vhd');
  const leaf = join(dir, 'leaf.vhd');
  await createVhd({ path: base, type: 'dynamic', size: 4 * MiB });
  const p = await openVhdChain(base);
  const baseData = pattern(4 * MiB, 3);
  await p.write(0, 8192, [baseData]);
  await p.close();
  await createVhd({ path: leaf, type: 'differencing', parent: base, size: 8 * MiB });
  const regions = new Regions();
  const d = await openVhd(leaf, {}, { regions });
  t.deepEqual(d.info.chain, [`vhd:${leaf}`, `vhd:${base}`]);
  const w = new Uint8Array(3 * 512).fill(0xee);
  t.is((await submit(d, regions, TdOp.Write, 4095, w)).status, TdStatus.Ok); // straddles blocks 0 and 1
  const all = new Uint8Array(8 * MiB);
  t.is((await submit(d, regions, TdOp.Read, 0, all, 65536)).status, TdStatus.Ok);
  const want = new Uint8Array(8 * MiB);
  want.set(baseData, 0);
  want.set(w, 4095 * 512);
  t.true(Buffer.from(all).equals(Buffer.from(want)));
  await d.close();
  const vhd = await VhdFile.open(leaf, false);
  t.false(vhd.batmapFull(0), 'a partial block of a differencing disk is not marked full');
  const bm = await vhd.bitmap(0);
  t.true(bitTest(bm, 4095));
  t.false(bitTest(bm, 4094));
  await vhd.close();
  t.is((await checkVhd(leaf)).verdict, 'clean');
});

test('differencing on a raw parent (nil parent id)', async (t) => {
  const dir = tempDir(t);
  const raw = join(dir, 'base.raw');
  const leaf = join(dir, 'leaf.vhd');
  const data = pattern(2 * MiB + 512, 5);
  writeFileSync(raw, data);
  await createVhd({ path: leaf, type: 'differencing', parent: raw, parentRaw: true, size: 4 * MiB });
  const io = await openVhdChain(leaf);
  t.is(io.layers[1]!.kind, 'raw');
  await io.write(1, 1, [new Uint8Array(512).fill(9)]);
  const out = new Uint8Array(4 * MiB);
  await io.read(0, 8192, [out]);
  const want = new Uint8Array(4 * MiB);
  want.set(data);
  want.fill(9, 512, 1024);
  t.true(Buffer.from(out).equals(Buffer.from(want)));
  await io.close();
});

test('other power-of-two block sizes: 4 KiB and 8 MiB', async (t) => {
  const dir = tempDir(t);
  for (const blockSize of [4096, 8 * MiB]) {
    const path = join(dir, `b${blockSize}.vhd`);
    const size = 16 * MiB;
    await createVhd({ path, type: 'dynamic', size, blockSize });
    await exercise(t, path, size, blockSize, new Uint8Array(size));
    t.is((await checkVhd(path)).verdict, 'clean');
  }
});

test('a killed trailing footer falls back to the copy at offset 0, and a writable open restores it', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'k.vhd');
  await createVhd({ path, type: 'dynamic', size: 8 * MiB });
  const io = await openVhdChain(path);
  await io.write(100, 8, [new Uint8Array(4096).fill(0x5a)]);
  await io.close();
  const size = statSync(path).size;
  truncateSync(path, size - 200); // a torn tail: no footer at EOF-512
  t.is((await checkVhd(path)).verdict, 'corrupt');
  const ro = await openVhdChain(path, { readonly: true });
  t.is((ro.leaf as VhdFile).footerSource, 'copy-at-0');
  const buf = new Uint8Array(4096);
  await ro.read(100, 8, [buf]);
  t.is(buf[4095], 0x5a);
  await ro.close();
  const rw = await openVhdChain(path);
  await rw.close();
  t.is(statSync(path).size, size);
  t.is((await checkVhd(path)).verdict, 'clean');
});

test('parent locators whose data_space is in bytes are read too', async (t) => {
  const dir = tempDir(t);
  const base = join(dir, 'base.vhd');
  const leaf = join(dir, 'leaf.vhd');
  await createVhd({ path: base, type: 'dynamic', size: MiB });
  await createVhd({ path: leaf, type: 'differencing', parent: base });
  // Rewrite the header as some Microsoft tools do: data_space in bytes, and no parent name.
  const fh = await open(leaf, 'r+');
  const buf = new Uint8Array(HEADER_SIZE);
  await fh.read(buf, 0, HEADER_SIZE, 512);
  const h = parseHeader(buf);
  if (!h.ok) return t.fail(h.error.message);
  const locators = h.value.locators.map((l) => (l.code === 0 ? l : { ...l, dataSpace: l.dataSpace * 512 }));
  await fh.write(encodeHeader({ ...h.value, parentName: '', locators }), 0, HEADER_SIZE, 512);
  await fh.close();
  const io = await openVhdChain(leaf, { readonly: true });
  t.is(io.layers[1]!.path, base);
  await io.close();
});

test('a parent whose unique id changed is refused', async (t) => {
  const dir = tempDir(t);
  const base = join(dir, 'base.vhd');
  const leaf = join(dir, 'leaf.vhd');
  await createVhd({ path: base, type: 'dynamic', size: MiB });
  await createVhd({ path: leaf, type: 'differencing', parent: base });
  await createVhd({ path: base, type: 'dynamic', size: MiB, exclusive: false });
  const e = await t.throwsAsync(openVhdChain(leaf));
  t.is((e as { code?: string }).code, 'SPLITBLK_ERR_VHD_PARENT_UUID');
});

test('a chain deeper than the limit is refused with SPLITBLK_ERR_CHAIN_DEPTH', async (t) => {
  const dir = tempDir(t);
  let prev = join(dir, 'l0.vhd');
  await createVhd({ path: prev, type: 'dynamic', size: MiB });
  for (let i = 1; i < 4; i++) {
    const next = join(dir, `l${i}.vhd`);
    await createVhd({ path: next, type: 'differencing', parent: prev });
    prev = next;
  }
  const io = await openVhdChain(prev, { chainDepthMax: 4 });
  t.is(io.layers.length, 4);
  await io.close();
  const e = await t.throwsAsync(openVhdChain(prev, { chainDepthMax: 3 }));
  t.is((e as { code?: string }).code, 'SPLITBLK_ERR_CHAIN_DEPTH');
});

test('bad requests complete with an error; discard is not supported', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'r.vhd');
  await createVhd({ path, type: 'dynamic', size: MiB });
  const regions = new Regions();
  const ro = await openVhd(path, { readonly: true }, { regions });
  t.is((await submit(ro, regions, TdOp.Write, 0, new Uint8Array(512))).status, TdStatus.Error);
  t.is((await submit(ro, regions, TdOp.Read, 2048, new Uint8Array(512))).status, TdStatus.Error);
  t.is((await submit(ro, regions, TdOp.Discard, 0, new Uint8Array(512))).status, TdStatus.NotSupported);
  await ro.close();
});
