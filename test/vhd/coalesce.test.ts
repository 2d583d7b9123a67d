/**
 * Offline coalesce (ops/coalesce.ts) into each kind of parent: a dynamic VHD (new blocks in
 * batches, in-place writes into existing ones), a differencing VHD (partial bitmaps that grow),
 * a VHD of another block size (the driver's write path), a fixed VHD, and a cancel part-way.
 * Each time the parent must read afterwards exactly as the child read before, and pass check.
 */
import test from 'ava';
import { join } from 'node:path';
import { createVhd, openVhdChain } from '../../src/tapdisk/drivers/vhd/index.js';
import { checkVhd } from '../../src/tapdisk/drivers/vhd/ops/check.js';
import { coalesceVhd } from '../../src/tapdisk/drivers/vhd/ops/coalesce.js';
import { prng } from '../helpers/prng.js';
import { tempDir } from './helpers.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const SIZE = 16 * MiB;

async function readAll(path: string): Promise<Buffer> {
  const io = await openVhdChain(path, { readonly: true });
  const out = new Uint8Array(io.sectors * 512);
  await io.read(0, io.sectors, [out]);
  await io.close();
  return Buffer.from(out);
}

/** Random writes of 1..64 sectors (seeded) through the driver, some of them whole blocks. */
async function scribble(path: string, seed: number, writes: number): Promise<void> {
  const rnd = prng(seed);
  const io = await openVhdChain(path);
  for (let i = 0; i < writes; i++) {
    const whole = rnd() < 0.2;
    const count = whole ? 4096 : 1 + Math.floor(rnd() * 64);
    const sector = whole ? Math.floor(rnd() * (io.sectors / 4096)) * 4096 : Math.floor(rnd() * (io.sectors - count));
    await io.write(sector, count, [new Uint8Array(count * 512).fill(1 + Math.floor(rnd() * 250))]);
  }
  await io.close();
}

async function mergedEqual(t: import('ava').ExecutionContext, child: string, parent: string): Promise<void> {
  const before = await readAll(child);
  const r = await coalesceVhd(child);
  t.is(r.parent, parent);
  t.true(r.sectors > 0);
  t.true((await readAll(parent)).equals(before), 'the parent reads as the child did');
  const check = await checkVhd(parent);
  t.is(check.verdict, 'clean', [...check.corruptions, ...check.leaks].join('; '));
}

test('into a dynamic parent: new blocks and existing ones, partial and whole', async (t) => {
  const dir = tempDir(t);
  const base = join(dir, 'base.vhd');
  const child = join(dir, 'child.vhd');
  await createVhd({ path: base, type: 'dynamic', size: SIZE });
  await scribble(base, 1, 20);
  await createVhd({ path: child, type: 'differencing', parent: base });
  await scribble(child, 2, 60);
  await mergedEqual(t, child, base);
});

test('into a differencing parent: its bitmaps grow, its own parent shows through the rest', async (t) => {
  const dir = tempDir(t);
  const base = join(dir, 'base.vhd');
  const mid = join(dir, 'mid.vhd');
  const top = join(dir, 'top.vhd');
  await createVhd({ path: base, type: 'dynamic', size: SIZE });
  await scribble(base, 3, 40);
  await createVhd({ path: mid, type: 'differencing', parent: base });
  await scribble(mid, 4, 40);
  await createVhd({ path: top, type: 'differencing', parent: mid });
  await scribble(top, 5, 60);
  await mergedEqual(t, top, mid);
});

test('into a parent of another block size, and into a fixed parent', async (t) => {
  const dir = tempDir(t);
  const small = join(dir, 'small.vhd');
  const child = join(dir, 'child.vhd');
  await createVhd({ path: small, type: 'dynamic', size: SIZE, blockSize: 64 * KiB });
  await scribble(small, 6, 10);
  await createVhd({ path: child, type: 'differencing', parent: small });
  await scribble(child, 7, 30);
  await mergedEqual(t, child, small);

  const fixed = join(dir, 'fixed.vhd');
  const onFixed = join(dir, 'on-fixed.vhd');
  await createVhd({ path: fixed, type: 'fixed', size: SIZE });
  await scribble(fixed, 8, 10);
  await createVhd({ path: onFixed, type: 'differencing', parent: fixed });
  await scribble(onFixed, 9, 30);
  await mergedEqual(t, onFixed, fixed);
});

test('a cancel part-way leaves the parent clean and the chain reading as before', async (t) => {
  const dir = tempDir(t);
  const base = join(dir, 'base.vhd');
  const child = join(dir, 'child.vhd');
  await createVhd({ path: base, type: 'dynamic', size: SIZE });
  await createVhd({ path: child, type: 'differencing', parent: base });
  await scribble(child, 10, 60);
  const before = await readAll(child);
  const calls: number[] = [];
  await t.throwsAsync(
    coalesceVhd(child, (done) => {
      calls.push(done);
      if (done === 2) throw new Error('cancelled');
    }),
    { message: 'cancelled' },
  );
  t.deepEqual(calls.slice(0, 2), [1, 2]);
  t.true(calls.length < 2 + 4, 'no block starts after the cancel; only those in flight finish');
  t.true((await readAll(child)).equals(before));
  const check = await checkVhd(base);
  t.is(check.verdict, 'clean', [...check.corruptions, ...check.leaks].join('; '));
  t.is(check.allocatedBlocks, 0, 'blocks placed but not committed are dropped');
  // And a second run completes.
  await mergedEqual(t, child, base);
});
