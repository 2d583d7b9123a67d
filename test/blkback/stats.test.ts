import test from 'ava';
import { BATCH_BUCKETS, RingCounters, snapshotRing, snapshotVbd } from '../../src/blkback/stats.js';

test('batch sizes land in power-of-two buckets, the last one open-ended', (t) => {
  const c = new RingCounters();
  for (const n of [0, 1, 2, 3, 4, 7, 8, 1 << 20]) c.recordBatch(n);
  t.deepEqual(Array.from(c.batches.slice(0, 4)), [1, 2, 2, 1]);
  t.is(c.batches[BATCH_BUCKETS - 1], 1);
});

test('snapshots use Linux names in kebab case and sum rings into the VBD total', (t) => {
  const a = new RingCounters();
  const b = new RingCounters();
  a.rdReq = 3;
  a.ooReq = 1;
  b.rdReq = 4;
  b.fReq = 2;
  b.recordBatch(5);
  const one = snapshotRing(a);
  t.is(one['rd-req'], 3);
  t.is(one['oo-req'], 1);
  t.true(Array.isArray(one['batch-sizes']));
  const vbd = snapshotVbd([a, b]);
  t.is(vbd.total['rd-req'], 7);
  t.is(vbd.total['f-req'], 2);
  t.is((vbd.total['batch-sizes'] as number[])[2], 1);
  t.is(vbd.rings.length, 2);
});
