/** The `splitblk image` verbs, run in-process through the CLI's main(). */
import test from 'ava';
import { appendFileSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { main } from '../../src/cli/main.js';
import { openVhdChain } from '../../src/tapdisk/drivers/vhd/index.js';
import { batmapChecksum } from '../../src/vhd/index.js';
import { pattern, tempDir } from './helpers.js';

const MiB = 1024 * 1024;

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const sink = (f: (s: string) => void) =>
    new Writable({
      write(chunk, _enc, cb) {
        f(String(chunk));
        cb();
      },
    });
  const code = await main(argv, {
    env: {},
    stdout: sink((s) => (out += s)),
    stderr: sink((s) => (err += s)),
    selfArgv: [],
  });
  return { code, out, err };
}

async function writeAt(path: string, sector: number, data: Uint8Array): Promise<void> {
  const io = await openVhdChain(path);
  await io.write(sector, data.length / 512, [data]);
  await io.close();
}

async function readAll(path: string): Promise<Uint8Array> {
  const io = await openVhdChain(path, { readonly: true });
  const out = new Uint8Array(io.sectors * 512);
  await io.read(0, io.sectors, [out]);
  await io.close();
  return out;
}

test('create, info --output=json (kebab-case, raw byte counts), info --chain', async (t) => {
  const dir = tempDir(t);
  const base = join(dir, 'base.vhd');
  const leaf = join(dir, 'leaf.vhd');
  t.is((await cli('image', 'create', '--block-size', '1M', base, '10M')).code, 0);
  t.is((await cli('image', 'create', '-b', base, leaf)).code, 0);
  const info = JSON.parse((await cli('image', 'info', '--output=json', base)).out);
  t.is(info['virtual-size'], 10 * MiB);
  t.is(info['block-size'], MiB);
  t.is(info['disk-type'], 'dynamic');
  t.is(info['total-blocks'], 10);
  const chain = JSON.parse((await cli('image', 'info', '--output=json', '--chain', leaf)).out);
  t.is(chain.length, 2);
  t.is(chain[0]['disk-type'], 'differencing');
  t.is(chain[0]['parent-uuid'], info.uuid);
  t.is((await cli('image', 'create', '--type', 'fixed', join(dir, 'f.vhd'), '1M')).code, 0);
  t.is(statSync(join(dir, 'f.vhd')).size, MiB + 512);
  t.is((await cli('image', 'create', '-f', 'raw', join(dir, 'r.img'), '1M')).code, 0);
  t.is((await cli('image', 'create', join(dir, 'x.vhd'))).code, 2, 'no size and no parent is a usage error');
});

test('check: 0 clean, 2 corrupt, 3 leaks only, 63 not a VHD; repair restores a clean image', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'c.vhd');
  await cli('image', 'create', path, '8M');
  await writeAt(path, 0, pattern(MiB, 1));
  t.is((await cli('image', 'check', path)).code, 0);
  const size = statSync(path).size;

  // Leaks only: space past the last block, then a valid footer at the new end.
  const footer = readFileSync(path).subarray(size - 512);
  appendFileSync(path, Buffer.alloc(64 * 1024));
  appendFileSync(path, footer);
  const leaks = await cli('image', 'check', '--output=json', path);
  t.is(leaks.code, 3);
  t.is(JSON.parse(leaks.out)['leaked-bytes'], 64 * 1024 + 512);

  // Corrupt: the trailing footer torn away.
  truncateSync(path, size - 100);
  t.is((await cli('image', 'check', path)).code, 2);
  const rep = await cli('image', 'repair', path);
  t.is(rep.code, 0);
  t.regex(rep.out, /trailing footer/);
  t.is((await cli('image', 'check', path)).code, 0);
  t.is(statSync(path).size, size);
  t.true(Buffer.from((await readAll(path)).subarray(0, MiB)).equals(Buffer.from(pattern(MiB, 1))));

  writeFileSync(join(dir, 'raw.img'), Buffer.alloc(4096));
  t.is((await cli('image', 'check', join(dir, 'raw.img'))).code, 63);
});

test('check --repair fixes a bad batmap bit and a BAT entry pointing past the file', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'b.vhd');
  await cli('image', 'create', path, '8M');
  await writeAt(path, 0, new Uint8Array(4096).fill(1));
  // Point BAT entry 3 far past the end, and mark unallocated block 2 full in the batmap (with
  // a matching batmap checksum), through the raw bytes: BAT at 1536, batmap header at 2048,
  // map at 2560 for a disk of 4 blocks.
  const buf = readFileSync(path);
  buf.writeUInt32BE(0x00ff_0000, 1536 + 3 * 4);
  buf[2560] = buf[2560]! | 0x20;
  buf.writeUInt32BE(batmapChecksum(buf.subarray(2560, 3072), 0x00010002), 2048 + 24);
  writeFileSync(path, buf);
  const bad = await cli('image', 'check', '--output=json', path);
  t.is(bad.code, 2);
  t.is(JSON.parse(bad.out).corruptions, 2, bad.out);
  const r = await cli('image', 'check', '-r', '--output=json', path);
  t.is(r.code, 0, r.out);
  const repairs = JSON.parse(r.out).repairs as string[];
  t.true(repairs.some((a) => a.includes('BAT entry 3')));
  t.true(repairs.some((a) => a.includes('batmap')));
});

test('map: extents with depth and file offsets', async (t) => {
  const dir = tempDir(t);
  const base = join(dir, 'base.vhd');
  const leaf = join(dir, 'leaf.vhd');
  await cli('image', 'create', base, '8M');
  await writeAt(base, 0, new Uint8Array(2 * MiB).fill(1));
  await cli('image', 'create', '-b', base, leaf);
  await writeAt(leaf, 8, new Uint8Array(4096).fill(2));
  const map = JSON.parse((await cli('image', 'map', '--output=json', leaf)).out) as { start: number; length: number; depth: number; data: boolean }[];
  t.deepEqual(
    map.map((x) => [x.start, x.length, x.depth, x.data]),
    [
      [0, 4096, 1, true],
      [4096, 4096, 0, true],
      [8192, 2 * MiB - 8192, 1, true],
      [2 * MiB, 6 * MiB, 1, false],
    ],
  );
});

test('snapshot, clone and coalesce (offline); -p draws progress on stderr', async (t) => {
  const dir = tempDir(t);
  const base = join(dir, 'base.vhd');
  const snap = join(dir, 'snap.vhd');
  const clone = join(dir, 'clone.vhd');
  await cli('image', 'create', base, '6M');
  await writeAt(base, 0, pattern(6 * MiB, 2));
  t.is((await cli('image', 'snapshot', base, snap)).code, 0);
  const mine = pattern(3 * MiB, 3);
  await writeAt(snap, 2048, mine);
  t.is((await cli('image', 'clone', base, clone)).code, 0);
  const want = pattern(6 * MiB, 2);
  want.set(mine, MiB);
  t.true(Buffer.from(await readAll(snap)).equals(Buffer.from(want)));
  t.true(Buffer.from(await readAll(clone)).equals(Buffer.from(pattern(6 * MiB, 2))));
  const co = await cli('image', 'coalesce', '-p', snap);
  t.is(co.code, 0, co.err);
  t.regex(co.err, /100%/);
  t.true(Buffer.from(await readAll(base)).equals(Buffer.from(want)), 'the parent now reads as the child did');
  t.is((await cli('image', 'check', base)).code, 0);
  t.is((await cli('image', 'coalesce', base)).code, 1, 'a dynamic disk has no parent to merge into');
});

test('coalesce into a raw parent', async (t) => {
  const dir = tempDir(t);
  const raw = join(dir, 'base.img');
  const leaf = join(dir, 'leaf.vhd');
  writeFileSync(raw, pattern(2 * MiB, 4));
  t.is((await cli('image', 'create', '-b', raw, '-F', 'raw', leaf)).code, 0);
  await writeAt(leaf, 1, new Uint8Array(512).fill(7));
  t.is((await cli('image', 'coalesce', leaf)).code, 0);
  const want = pattern(2 * MiB, 4);
  want.fill(7, 512, 1024);
  t.true(readFileSync(raw).equals(Buffer.from(want)));
});

test('bench vhd runs (smoke: tiny size, JSON shape only; timings are not asserted)', async (t) => {
  const dir = tempDir(t);
  const r = await cli('bench', 'vhd', '--size', '8M', '--dir', dir, '--output=json');
  t.is(r.code, 0, r.err);
  const out = JSON.parse(r.out);
  t.deepEqual(out.workloads.map((w: { workload: string }) => w.workload), ['first-touch-write', 'overwrite', 'read']);
  t.is(typeof out['leaf-coalesce-pause-ms'], 'number');
});
