/**
 * Interop with Debian's qemu-utils (qemu-img, qemu-io): images qemu makes read correctly through
 * our driver; images our driver writes read back equal through qemu-img compare. qemu-img 7.2
 * cannot create vpc differencing images ("Backing file not supported for file format 'vpc'")
 * nor follow a vpc parent, so chains are built with our tool and each file is checked by
 * qemu on its own (qemu reads a differencing VHD's blocks as if it had no parent).
 */
import test from 'ava';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TdOp, TdStatus } from '../../src/tapdisk/api.js';
import { createVhd, openVhd, openVhdChain } from '../../src/tapdisk/drivers/vhd/index.js';
import { checkVhd } from '../../src/tapdisk/drivers/vhd/ops/check.js';
import { Regions, haveTool, pattern, run, submit, tempDir } from './helpers.js';

const MiB = 1024 * 1024;

async function readAll(path: string): Promise<Uint8Array> {
  const regions = new Regions();
  const d = await openVhd(path, { readonly: true }, { regions });
  const out = new Uint8Array(d.info.sectors * 512);
  const r = await submit(d, regions, TdOp.Read, 0, out, 65536);
  await d.close();
  if (r.status !== TdStatus.Ok) throw new Error(`read failed: ${r.errno}`);
  return out;
}

for (const subformat of ['dynamic', 'fixed'] as const) {
  test(`qemu-img create -f vpc subformat=${subformat}, written by qemu-io, reads through our driver`, async (t) => {
    if (!haveTool(t, 'qemu-img') || !haveTool(t, 'qemu-io')) return;
    const dir = tempDir(t);
    const path = join(dir, 'q.vhd');
    t.is(run('qemu-img', ['create', '-q', '-f', 'vpc', '-o', `subformat=${subformat}`, path, '16M']).status, 0);
    for (const cmd of ['write -P 0xab 0 1M', 'write -P 0xcd 3M 64k', 'write -P 0x11 5242368 1536']) {
      const r = run('qemu-io', ['-f', 'vpc', '-c', cmd, path]);
      t.is(r.status, 0, r.stderr);
    }
    const data = await readAll(path);
    const want = new Uint8Array(data.length);
    want.fill(0xab, 0, MiB);
    want.fill(0xcd, 3 * MiB, 3 * MiB + 65536);
    want.fill(0x11, 5242368, 5242368 + 1536);
    t.true(Buffer.from(data).equals(Buffer.from(want)));
    // The size we report is the one qemu reports (-f vpc: qemu probes a fixed VHD as raw).
    const info = JSON.parse(run('qemu-img', ['info', '-f', 'vpc', '--output=json', path]).stdout) as { 'virtual-size': number };
    t.is(data.length, info['virtual-size']);
    const check = await checkVhd(path);
    t.deepEqual(check.corruptions, []);
  });
}

test('a qemu image written by our driver: qemu-img compare equals the expected raw', async (t) => {
  if (!haveTool(t, 'qemu-img') || !haveTool(t, 'qemu-io')) return;
  const dir = tempDir(t);
  const path = join(dir, 'q.vhd');
  t.is(run('qemu-img', ['create', '-q', '-f', 'vpc', path, '8M']).status, 0);
  t.is(run('qemu-io', ['-f', 'vpc', '-c', 'write -P 0xab 0 1M', path]).status, 0);
  const io = await openVhdChain(path);
  const extra = pattern(3 * MiB, 1);
  await io.write(2048 + 1, extra.length / 512, [extra]);
  await io.close();
  const expected = new Uint8Array(io.sectors * 512);
  expected.fill(0xab, 0, MiB);
  expected.set(extra, (2048 + 1) * 512);
  writeFileSync(join(dir, 'expected.raw'), expected);
  const cmp = run('qemu-img', ['compare', '-f', 'vpc', '-F', 'raw', path, join(dir, 'expected.raw')]);
  t.is(cmp.status, 0, cmp.stdout + cmp.stderr);
});

for (const type of ['dynamic', 'fixed'] as const) {
  test(`an image splitblk creates (${type}) and writes: qemu-img info, check and compare agree`, async (t) => {
    if (!haveTool(t, 'qemu-img')) return;
    const dir = tempDir(t);
    const path = join(dir, 's.vhd');
    const size = 20 * MiB + 4096;
    await createVhd({ path, type, size });
    const io = await openVhdChain(path);
    const expected = new Uint8Array(size);
    for (let i = 0; i < 12; i++) {
      const data = pattern(64 * 1024 + i * 4096, 100 + i);
      const sector = ((i * 1_700_003) % (size / 512 - data.length / 512)) | 0;
      await io.write(sector, data.length / 512, [data]);
      expected.set(data, sector * 512);
    }
    await io.close();
    writeFileSync(join(dir, 'expected.raw'), expected);
    const info = JSON.parse(run('qemu-img', ['info', '-f', 'vpc', '--output=json', path]).stdout) as { 'virtual-size': number; format: string };
    t.is(info.format, 'vpc');
    t.is(info['virtual-size'], size);
    // qemu-img check has no vpc checker: exit 63 ("does not support checks") is all it can say;
    // anything else would be a complaint.
    const chk = run('qemu-img', ['check', '-f', 'vpc', path]);
    t.true(chk.status === 0 || chk.status === 63, chk.stderr);
    const cmp = run('qemu-img', ['compare', '-f', 'vpc', '-F', 'raw', path, join(dir, 'expected.raw')]);
    t.is(cmp.status, 0, cmp.stdout + cmp.stderr);
    t.is((await checkVhd(path)).verdict, 'clean');
  });
}

test('chains: qemu-img cannot create vpc differencing disks; ours read correctly and each file passes qemu', async (t) => {
  if (!haveTool(t, 'qemu-img') || !haveTool(t, 'qemu-io')) return;
  const dir = tempDir(t);
  const base = join(dir, 'base.vhd');
  const child = join(dir, 'child.vhd');
  t.is(run('qemu-img', ['create', '-q', '-f', 'vpc', base, '8M']).status, 0);
  const refused = run('qemu-img', ['create', '-f', 'vpc', '-b', base, '-F', 'vpc', join(dir, 'q-child.vhd')]);
  t.not(refused.status, 0);
  t.log(`qemu-img 7.2 on a vpc backing file: ${refused.stderr.trim()}`);
  t.is(run('qemu-io', ['-f', 'vpc', '-c', 'write -P 0xab 0 1M', base]).status, 0);
  await createVhd({ path: child, type: 'differencing', parent: base });
  const io = await openVhdChain(child);
  t.is(io.sectors * 512, JSON.parse(run('qemu-img', ['info', '-f', 'vpc', '--output=json', base]).stdout)['virtual-size']);
  const w = new Uint8Array(8192).fill(0x77);
  await io.write(1024, 16, [w]); // inside qemu's 1 MiB of 0xab
  await io.close();
  const data = await readAll(child);
  const chain = new Uint8Array(data.length);
  chain.fill(0xab, 0, MiB);
  chain.fill(0x77, 1024 * 512, 1024 * 512 + 8192);
  t.true(Buffer.from(data).equals(Buffer.from(chain)), 'child over a qemu-made parent reads as the chain');
  // qemu, blind to the parent, sees only the child's own sectors.
  const own = new Uint8Array(data.length);
  own.fill(0x77, 1024 * 512, 1024 * 512 + 8192);
  writeFileSync(join(dir, 'own.raw'), own);
  const cmp = run('qemu-img', ['compare', '-f', 'vpc', '-F', 'raw', child, join(dir, 'own.raw')]);
  t.is(cmp.status, 0, cmp.stdout + cmp.stderr);
  t.deepEqual(readFileSync(base).subarray(0, 8), Buffer.from('conectix'));
});
