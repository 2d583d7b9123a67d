import test from 'ava';
import { GrefIndex } from '../../src/blkback/gref-index.js';

test('random adds and deletes agree with a Map, refs spread over the whole u32 range', (t) => {
  const index = new GrefIndex(64);
  const model = new Map<number, number>();
  let seed = 987654321;
  const rand = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
  // Few distinct refs, some clustered (consecutive), some near 2^32, so runs collide and wrap.
  const pool = [...Array.from({ length: 48 }, (_, i) => i), ...Array.from({ length: 48 }, (_, i) => 0xffffffff - i), ...Array.from({ length: 32 }, () => rand())];
  for (let step = 0; step < 50_000; step++) {
    const gref = pool[rand() % pool.length]!;
    if (model.has(gref)) {
      if (rand() % 2 === 0) {
        index.delete(gref);
        model.delete(gref);
      }
    } else if (model.size < 64) {
      const slot = rand() % 1000;
      index.add(gref, slot);
      model.set(gref, slot);
    }
    if (step % 97 === 0) {
      for (const g of pool) t.is(index.get(g), model.get(g) ?? -1);
    }
    t.is(index.size, model.size);
  }
  for (const g of pool) t.is(index.get(g), model.get(g) ?? -1);
});

test('adding a present ref or past the limit is refused', (t) => {
  const index = new GrefIndex(2);
  index.add(7, 0);
  t.throws(() => index.add(7, 1), { message: /already present/ });
  index.add(8, 1);
  t.throws(() => index.add(9, 2), { message: /full/ });
  index.delete(7);
  index.delete(7);
  t.is(index.get(7), -1);
  t.is(index.get(8), 1);
});
