import test from 'ava';
import { TdOp, type TdRequest } from '../../src/tapdisk/api.js';
import { conflicts } from '../../src/tapdisk/deps.js';
import { coalesce, MergePlan, planMerges, type MergeLimits } from '../../src/tapdisk/merge.js';
import { makeRequest, setRequest } from './helpers.js';

const roomy: MergeLimits = { segmentsMax: 256, bytesMax: 1 << 20, membersMax: 32 };

function batch(...specs: [TdOp, number, number][]): TdRequest[] {
  return specs.map(([op, sector, sectors], i) => setRequest(makeRequest(64), op, sector, sectors, i + 1, 0));
}

function groups(reqs: TdRequest[], limits = roomy): number[][] {
  const plan = new MergePlan(reqs.length);
  planMerges(reqs, reqs.length, limits, plan);
  const out: number[][] = [];
  for (let g = 0; g < plan.groups; g++) {
    out.push(Array.from(plan.order.subarray(plan.groupStart[g]!, plan.groupStart[g + 1]!)));
  }
  return out;
}

test('contiguous writes submitted out of order merge into one run in sector order', (t) => {
  const reqs = batch([TdOp.Write, 16, 8], [TdOp.Write, 0, 8], [TdOp.Write, 8, 8]);
  t.deepEqual(groups(reqs), [[1, 2, 0]]);
});

test('gaps, different ops, flushes and discards are not merged', (t) => {
  const reqs = batch([TdOp.Read, 0, 8], [TdOp.Read, 16, 8], [TdOp.Write, 8, 8], [TdOp.Flush, 0, 0],
    [TdOp.Discard, 100, 8], [TdOp.Discard, 108, 8]);
  t.deepEqual(groups(reqs), [[0], [1], [2], [3], [4], [5]]);
});

test('reads merge with reads and writes with writes independently', (t) => {
  const reqs = batch([TdOp.Read, 0, 8], [TdOp.Write, 100, 8], [TdOp.Read, 8, 8], [TdOp.Write, 108, 8]);
  t.deepEqual(groups(reqs), [[0, 2], [1, 3]]);
});

test('the iovec limit splits a run', (t) => {
  const reqs = batch([TdOp.Read, 0, 16], [TdOp.Read, 16, 16], [TdOp.Read, 32, 16]); // 2 segments each
  t.deepEqual(groups(reqs, { ...roomy, segmentsMax: 5 }), [[0, 1], [2]]);
});

test('the byte limit splits a run', (t) => {
  const reqs = batch([TdOp.Read, 0, 8], [TdOp.Read, 8, 8], [TdOp.Read, 16, 8]);
  t.deepEqual(groups(reqs, { ...roomy, bytesMax: 8192 }), [[0, 1], [2]]);
});

test('the member limit splits a run', (t) => {
  const reqs = batch([TdOp.Write, 0, 8], [TdOp.Write, 8, 8], [TdOp.Write, 16, 8], [TdOp.Write, 24, 8], [TdOp.Write, 32, 8]);
  t.deepEqual(groups(reqs, { ...roomy, membersMax: 2 }), [[0, 1], [2, 3], [4]]);
});

test('coalesce concatenates the members segments in sector order', (t) => {
  const reqs = batch([TdOp.Write, 8, 16], [TdOp.Write, 0, 8]);
  const plan = new MergePlan(2);
  planMerges(reqs, 2, roomy, plan);
  const target = makeRequest(256);
  t.is(coalesce(reqs, plan, 0, target), 3);
  t.is(target.op, TdOp.Write);
  t.is(target.sector, 0);
  t.is(target.sectors, 24);
  t.deepEqual(Array.from(target.segRegion.subarray(0, 3)), [2, 1, 1]);
  t.deepEqual(Array.from(target.segOffset.subarray(0, 3)), [0, 0, 4096]);
  t.deepEqual(Array.from(target.segLength.subarray(0, 3)), [4096, 4096, 4096]);
});

test('a random batch: every request is in exactly one group and groups are contiguous runs', (t) => {
  let seed = 12345;
  const rand = (n: number) => { seed = (seed * 1103515245 + 12345) >>> 0; return seed % n; };
  t.log(`seed 12345`);
  for (let round = 0; round < 200; round++) {
    const n = 1 + rand(40);
    const reqs = batch(...Array.from({ length: n }, () => [rand(2) as TdOp, rand(20) * 8, 8] as [TdOp, number, number]));
    const limits = { segmentsMax: 1 + rand(8), bytesMax: 4096 * (1 + rand(8)), membersMax: 1 + rand(6) };
    const gs = groups(reqs, limits);
    t.deepEqual(gs.flat().sort((a, b) => a - b), [...Array(n).keys()]);
    for (const g of gs) {
      t.true(g.length <= limits.membersMax);
      let segs = 0;
      for (let k = 0; k < g.length; k++) {
        const r = reqs[g[k]!]!;
        segs += r.segments;
        if (k > 0) {
          const p = reqs[g[k - 1]!]!;
          t.is(r.op, p.op);
          t.is(r.sector, p.sector + p.sectors);
        }
      }
      if (g.length > 1) t.true(segs <= limits.segmentsMax);
    }
  }
});

test('conflicts: reads share, writes overlap-order, flush orders everything', (t) => {
  t.false(conflicts(TdOp.Read, 0, 8, TdOp.Read, 0, 8));
  t.true(conflicts(TdOp.Write, 0, 8, TdOp.Read, 4, 8));
  t.true(conflicts(TdOp.Read, 0, 8, TdOp.Write, 7, 1));
  t.false(conflicts(TdOp.Write, 0, 8, TdOp.Write, 8, 8));
  t.true(conflicts(TdOp.Discard, 0, 8, TdOp.Read, 0, 1));
  t.true(conflicts(TdOp.Flush, 0, 0, TdOp.Read, 100, 8));
  t.true(conflicts(TdOp.Read, 100, 8, TdOp.Flush, 0, 0));
});

test('a batch in which nothing can merge goes out as groups of one, in arrival order', (t) => {
  const reqs = batch([TdOp.Read, 800, 8], [TdOp.Read, 16, 8], [TdOp.Write, 400, 8], [TdOp.Read, 4000, 8], [TdOp.Write, 0, 8]);
  t.deepEqual(groups(reqs), [[0], [1], [2], [3], [4]]);
  // The quick check must not hide a real merge that comes after a run of unmergeable requests.
  const later = batch([TdOp.Read, 800, 8], [TdOp.Read, 16, 8], [TdOp.Read, 808, 8]);
  t.deepEqual(groups(later), [[1], [0, 2]]);
});
