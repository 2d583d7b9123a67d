/**
 * Live operations on an attached disk: a verifying writer keeps writing and reading through a
 * VBD while a snapshot, a non-leaf coalesce and a leaf coalesce run as jobs; no byte is lost or
 * misplaced, and the final image alone holds the disk.
 */
import test from 'ava';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { TdOp, TdStatus } from '../../src/tapdisk/api.js';
import { Tapdisk } from '../../src/tapdisk/tapdisk.js';
import { createVhd, openVhdChain } from '../../src/tapdisk/drivers/vhd/index.js';
import { checkVhd } from '../../src/tapdisk/drivers/vhd/ops/check.js';
import { JobTable } from '../../src/tapdisk/drivers/vhd/live/job.js';
import { liveSnapshot } from '../../src/tapdisk/drivers/vhd/live/snapshot.js';
import { liveCoalesce } from '../../src/tapdisk/drivers/vhd/live/coalesce.js';
import { request } from '../tapdisk/helpers.js';
import { pattern, prng, tempDir } from './helpers.js';

const MiB = 1024 * 1024;
const SIZE = 16 * MiB;

test('snapshot, non-leaf coalesce and leaf coalesce under a verifying writer', async (t) => {
  const dir = tempDir(t);
  const base = join(dir, 'base.vhd');
  const mid = join(dir, 'mid.vhd');
  const leaf = join(dir, 'leaf.vhd');
  const model = new Uint8Array(SIZE);
  await createVhd({ path: base, type: 'dynamic', size: SIZE });
  let io = await openVhdChain(base);
  const b = pattern(6 * MiB, 1);
  await io.write(0, b.length / 512, [b]);
  model.set(b, 0);
  await io.close();
  await createVhd({ path: mid, type: 'differencing', parent: base });
  io = await openVhdChain(mid);
  const m = pattern(3 * MiB, 2);
  await io.write(4096 + 3, m.length / 512, [m]);
  model.set(m, (4096 + 3) * 512);
  await io.close();
  await createVhd({ path: leaf, type: 'differencing', parent: mid });

  const tapdisk = new Tapdisk({ aio: null });
  t.teardown(() => tapdisk.close());
  const memory = new Uint8Array(2 * MiB);
  const region = tapdisk.registerRegion(memory.buffer);
  const vbd = await tapdisk.open(`vhd:${leaf}`);

  // The writer: sequential writes of fresh content to random places, each followed now and
  // then by a read-back of an earlier write, compared with the model.
  let stop = false;
  let writes = 0;
  let mismatches = 0;
  const seed = 99;
  t.log(`seed ${seed}`);
  const rnd = prng(seed);
  const writer = (async () => {
    while (!stop) {
      const sectors = 8 * (1 + Math.floor(rnd() * 32));
      const sector = Math.floor(rnd() * (SIZE / 512 - sectors));
      const data = pattern(sectors * 512, 1000 + writes);
      memory.set(data, 0);
      const w = await request(vbd, TdOp.Write, sector, sectors, region, 0);
      if (w.status !== TdStatus.Ok) throw new Error(`write failed: ${w.errno}`);
      model.set(data, sector * 512);
      writes++;
      if (writes % 3 === 0) {
        const at = Math.floor(rnd() * (SIZE / 512 - 256));
        const r = await request(vbd, TdOp.Read, at, 256, region, MiB);
        if (r.status !== TdStatus.Ok) throw new Error(`read failed: ${r.errno}`);
        if (!Buffer.from(memory.subarray(MiB, MiB + 256 * 512)).equals(Buffer.from(model.subarray(at * 512, (at + 256) * 512)))) mismatches++;
      }
    }
  })();

  const jobs = new JobTable();
  const snap = join(dir, 'snap.vhd');
  const s = await jobs.start('snapshot', (job) => liveSnapshot(vbd, snap, job)).done;
  t.is(vbd.spec, `vhd:${snap}`);
  const nonLeaf = await jobs.start('coalesce', (job) => liveCoalesce([vbd], mid, job)).done;
  t.deepEqual(nonLeaf.removable, [mid]);
  t.deepEqual(vbd.info.chain, [`vhd:${snap}`, `vhd:${leaf}`, `vhd:${base}`]);
  const leafJob = jobs.start('coalesce', (job) => liveCoalesce([vbd], snap, job));
  const leafResult = await leafJob.done;
  t.is(vbd.spec, `vhd:${leaf}`);
  t.deepEqual(vbd.info.chain, [`vhd:${leaf}`, `vhd:${base}`]);
  t.log(`pauses: snapshot ${s.pauseMs.toFixed(1)} ms, non-leaf re-parent ${nonLeaf.pauseMs.toFixed(1)} ms, ` +
    `leaf coalesce ${leafResult.snapshotPauseMs!.toFixed(1)} + ${leafResult.pauseMs.toFixed(1)} ms`);
  t.deepEqual(jobs.list().map((j) => [j.kind, j.status]), [['snapshot', 'done'], ['coalesce', 'done'], ['coalesce', 'done']]);
  t.true(leafJob.report().total > 0);

  // Let the writer run on the final chain for a little, then stop it.
  const after = writes;
  while (writes < after + 20) await new Promise((r) => setImmediate(r));
  stop = true;
  await writer;
  t.true(writes > 40, `${writes} writes`);
  t.is(mismatches, 0);

  const whole = new Uint8Array(SIZE);
  for (let at = 0; at < SIZE; at += MiB) {
    t.is((await request(vbd, TdOp.Read, at / 512, MiB / 512, region, 0)).status, TdStatus.Ok);
    whole.set(memory.subarray(0, MiB), at);
  }
  t.true(Buffer.from(whole).equals(Buffer.from(model)), 'the disk reads as the model');
  await tapdisk.close();

  // Offline: the final chain alone (leaf on base) holds everything; mid and snap are removable.
  const final = await openVhdChain(leaf, { readonly: true });
  t.is(final.layers.length, 2);
  const back = new Uint8Array(SIZE);
  await final.read(0, SIZE / 512, [back]);
  await final.close();
  t.true(Buffer.from(back).equals(Buffer.from(model)));
  for (const p of [leaf, base]) t.is((await checkVhd(p)).verdict, 'clean', p);
  t.true(existsSync(mid));
});
