/** The pure parts of the simulator: the sector format and its checker, the latency histogram, negotiation. */
import test from 'ava';
import { checkSector, stampSectors, VerifyReport, checkSectors } from '../../src/blkfront/verify.js';
import { LatencyHistogram } from '../../src/blkfront/histogram.js';
import { chooseDisk, chooseTransport, type BackendDiskFeatures } from '../../src/blkfront/features.js';

const WORDS = 128;

test('a stamped sector checks clean; each kind of damage is named', (t) => {
  const w = new Uint32Array(WORDS * 4);
  stampSectors(w, 0, 1000, 4, 7);
  for (let s = 0; s < 4; s++) t.is(checkSector(w, s * WORDS, 1000 + s, 7), undefined);
  t.is(checkSector(w, 0, 1000, 0), undefined, 'unknown expectation: self-consistency only');
  t.like(checkSector(w, 0, 1000, 8), { kind: 'stale', expected: 8, found: 7 });
  t.like(checkSector(w, 0, 1000, 6), { kind: 'unexpected' });
  t.like(checkSector(w, WORDS, 1000, 7), { kind: 'misplaced', foundSector: 1001 });
  const blank = new Uint32Array(WORDS);
  t.like(checkSector(blank, 0, 5, 3), { kind: 'lost' });
  t.is(checkSector(blank, 0, 5, 0), undefined, 'a never-written sector without a header is fine');
  w[WORDS * 2 + 77] ^= 1;
  t.like(checkSector(w, WORDS * 2, 1002, 7), { kind: 'corrupt' });
  // Different generations of one sector differ in payload, so a stale copy cannot pass as new.
  const a = new Uint32Array(WORDS);
  const b = new Uint32Array(WORDS);
  stampSectors(a, 0, 9, 1, 1);
  stampSectors(b, 0, 9, 1, 2);
  t.notDeepEqual([...a.subarray(5)], [...b.subarray(5)]);
  // Sector numbers above 2^32 are kept whole.
  stampSectors(a, 0, 2 ** 33 + 5, 1, 1);
  t.is(checkSector(a, 0, 2 ** 33 + 5, 1), undefined);
});

test('VerifyReport counts every error and keeps the first few', (t) => {
  const report = new VerifyReport(2);
  const blank = new Uint32Array(WORDS * 8);
  checkSectors(blank, 0, 0, 8, () => 1, report);
  t.is(report.sectorsChecked, 8);
  t.is(report.errorCount, 8);
  t.is(report.errors.length, 2);
  t.false(report.ok);
});

test('the latency histogram reports percentiles within 2%', (t) => {
  const h = new LatencyHistogram();
  for (let i = 1; i <= 100_000; i++) h.record(i * 1000); // 1 µs .. 100 ms, uniform
  for (const [p, exact] of [[50, 50_000_000], [99, 99_000_000], [99.9, 99_900_000]] as const) {
    const got = h.percentile(p);
    t.true(Math.abs(got - exact) / exact < 0.02, `p${p}: ${got} vs ${exact}`);
  }
  t.is(h.count, 100_000);
  t.is(h.percentile(100), 100_000_000);
  const small = new LatencyHistogram();
  small.record(3);
  t.is(small.percentile(50), 3);
  t.is(new LatencyHistogram().percentile(99), 0);
});

test('negotiation takes the smaller of what the backend offers and what is asked', (t) => {
  t.deepEqual(chooseTransport({ ringPageOrderMax: 4, queuesMax: 8 }, {}), { ringPageOrder: 4, queues: 8 });
  t.deepEqual(chooseTransport({ ringPageOrderMax: 2, queuesMax: 8 }, { ringOrder: 3, queues: 2 }), { ringPageOrder: 2, queues: 2 });
  const disk: BackendDiskFeatures = {
    sectors: 1, sectorSize: 512, physicalSectorSize: 512, info: 0, flushCache: true, barrier: false, discard: false,
    discardGranularity: 0, discardAlignment: 0, discardSecure: false, persistent: true, maxIndirectSegments: 256,
  };
  t.deepEqual(chooseDisk(disk, {}), { segmentsMax: 256, indirect: true, persistent: true });
  t.deepEqual(chooseDisk(disk, { indirectSegments: 0, persistent: false }), { segmentsMax: 11, indirect: false, persistent: false });
  t.deepEqual(chooseDisk({ ...disk, persistent: false, maxIndirectSegments: 0 }, { indirectSegments: 64 }), { segmentsMax: 11, indirect: false, persistent: false });
});
