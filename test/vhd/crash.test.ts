/**
 * Crash consistency: a child process writes through the driver (allocating writes, periodic
 * flushes) and is SIGKILLed mid-way. On reopen the metadata is consistent and every write
 * acknowledged before the last completed flush is there.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { createVhd, openVhdChain } from '../../src/tapdisk/drivers/vhd/index.js';
import { checkVhd } from '../../src/tapdisk/drivers/vhd/ops/check.js';
import { SLOT_BYTES, slotContent, slotOrder } from './crash-slots.js';
import { haveTool, run, tempDir } from './helpers.js';

const MiB = 1024 * 1024;
const WRITER = new URL('./crash-writer.js', import.meta.url).pathname;

/** Run the writer until it reports `flushedMin` flushed writes, then SIGKILL it. */
function writeUntilKilled(image: string, seed: number, flushedMin: number, durable: boolean): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WRITER, image, String(seed), durable ? 'durable' : 'fast'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let flushed = 0;
    let killed = false;
    let out = '';
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const lines = out.split('\n');
      out = lines.pop()!;
      for (const line of lines) {
        const m = /^flushed (\d+)$/.exec(line);
        if (m) flushed = Math.max(flushed, Number(m[1]));
      }
      if (!killed && flushed >= flushedMin) {
        killed = true;
        child.kill('SIGKILL');
      }
    });
    child.on('exit', (code, signal) => {
      if (signal === 'SIGKILL') resolve(flushed);
      else reject(new Error(`writer exited (${code}) before it was killed: ${err}`));
    });
  });
}

for (const type of ['dynamic', 'differencing'] as const) {
  test(`SIGKILL during allocating writes (${type}): metadata consistent, flushed writes present`, async (t) => {
    const dir = tempDir(t);
    const image = join(dir, 'leaf.vhd');
    const size = 256 * MiB; // 128 blocks: most of the first writes allocate
    if (type === 'differencing') {
      await createVhd({ path: join(dir, 'base.vhd'), type: 'dynamic', size });
      await createVhd({ path: image, type: 'differencing', parent: join(dir, 'base.vhd') });
    } else {
      await createVhd({ path: image, type: 'dynamic', size });
    }
    const seed = 20 + (type === 'dynamic' ? 1 : 2);
    t.log(`seed ${seed}`);
    // The differencing run also syncs between allocation steps (durable metadata).
    const flushedMin = type === 'differencing' ? 96 : 160;
    const flushed = await writeUntilKilled(image, seed, flushedMin, type === 'differencing');
    t.true(flushed >= flushedMin);

    // As the kill left it: at most a missing trailing footer (the copy at 0 stands in) and
    // space a half-done allocation left past the end.
    const raw = await checkVhd(image);
    t.log(`after the kill: ${raw.verdict}; ${[...raw.corruptions, ...raw.leaks].join('; ') || 'nothing to report'}`);
    t.true(raw.corruptions.every((m) => m.includes('trailing footer')), raw.corruptions.join('; '));

    // Reopen writable (what the next tapdisk does), close, and the image is clean.
    await (await openVhdChain(image)).close();
    const after = await checkVhd(image);
    t.deepEqual([...after.corruptions, ...after.leaks], []);
    t.is(after.verdict, 'clean');

    const io = await openVhdChain(image, { readonly: true });
    const order = slotOrder(size, seed);
    const buf = new Uint8Array(SLOT_BYTES);
    let missing = 0;
    for (let i = 0; i < flushed; i++) {
      await io.read((order[i]! * SLOT_BYTES) / 512, SLOT_BYTES / 512, [buf]);
      if (!Buffer.from(buf).equals(Buffer.from(slotContent(i)))) missing++;
    }
    t.is(missing, 0, `${missing} of ${flushed} flushed writes are missing`);
    // What our driver reads, as a sparse raw file, for qemu to compare against.
    const ours = join(dir, 'ours.raw');
    const fh = await open(ours, 'w');
    await fh.truncate(size);
    const chunk = new Uint8Array(8 * MiB);
    for (let at = 0; at < size; at += chunk.length) {
      await io.read(at / 512, chunk.length / 512, [chunk]);
      if (chunk.some((b) => b !== 0)) await fh.write(chunk, 0, chunk.length, at);
    }
    await fh.close();
    await io.close();

    if (type === 'dynamic' && haveTool(t, 'qemu-img')) {
      const cmp = run('qemu-img', ['compare', '-f', 'vpc', '-F', 'raw', image, ours]);
      t.is(cmp.status, 0, cmp.stdout + cmp.stderr);
      const chk = run('qemu-img', ['check', '-f', 'vpc', image]);
      t.true(chk.status === 0 || chk.status === 63, chk.stderr);
    }
  });
}
