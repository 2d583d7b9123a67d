/** The coalesce's early write-back: background syncs, at most one at a time, errors kept for settle(). */
import test from 'ava';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { Writeback } from '../../src/tapdisk/drivers/vhd/ops/writeback.js';
import { tempDir } from './helpers.js';

test('syncs start once enough bytes are dirty, one at a time; settle() waits for the one in flight', async (t) => {
  const fh = await open(join(tempDir(t), 'f'), 'w+');
  t.teardown(() => fh.close().catch(() => undefined));
  let syncs = 0;
  const sync = fh.datasync.bind(fh);
  fh.datasync = () => {
    syncs++;
    return sync();
  };
  const wb = new Writeback(fh, 8192);
  const page = new Uint8Array(4096).fill(7);
  await fh.write(page, 0, page.length, 0);
  wb.wrote(4096);
  t.is(syncs, 0, 'below the threshold: no sync');
  wb.wrote(4096);
  t.is(syncs, 1, 'at the threshold: one sync starts');
  wb.wrote(65536);
  t.is(syncs, 1, 'a sync in flight: no second one');
  await wb.settle();
  wb.wrote(8192);
  t.is(syncs, 2, 'after it settled, the next threshold starts another');
  await wb.settle();
});

test('a failed background sync is reported by settle(), and no further sync starts', async (t) => {
  const fh = await open(join(tempDir(t), 'f'), 'w+');
  t.teardown(() => fh.close().catch(() => undefined));
  let syncs = 0;
  fh.datasync = () => {
    syncs++;
    return Promise.reject(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO', errno: -5 }));
  };
  const wb = new Writeback(fh, 4096);
  wb.wrote(4096);
  const e = await t.throwsAsync(wb.settle());
  t.is((e as NodeJS.ErrnoException).code, 'EIO');
  wb.wrote(4096);
  t.is(syncs, 1);
  await t.throwsAsync(wb.settle());
});
