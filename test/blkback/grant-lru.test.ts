import test from 'ava';
import { GrantLru } from '../../src/blkback/grant-lru.js';

test('a full cache refuses inserts; purge evicts the least recently used first', (t) => {
  const evicted: number[] = [];
  const lru = new GrantLru<string>(3, (_v, gref) => evicted.push(gref));
  for (const g of [1, 2, 3]) t.not(lru.insert(g, `v${g}`), -1);
  t.deepEqual(lru.order(), [3, 2, 1]);
  t.true(lru.full);
  t.not(lru.lookup(1), -1); // 1 becomes most recent
  t.deepEqual(lru.order(), [1, 3, 2]);
  t.is(lru.insert(4, 'v4'), -1, 'nothing is evicted on insert');
  t.deepEqual(evicted, []);
  t.is(lru.purge(1), 1);
  t.deepEqual(evicted, [2]);
  t.false(lru.full);
  t.not(lru.insert(4, 'v4'), -1);
  t.deepEqual(lru.order(), [4, 1, 3]);
  t.is(lru.lookup(2), -1);
  t.is(lru.value(lru.lookup(3)), 'v3');
  t.is(lru.size, 3);
  t.is(lru.evictions, 1);
});

test('pinned entries are never purged; purge evicts only what is unpinned', (t) => {
  const evicted: number[] = [];
  const lru = new GrantLru<number>(3, (_v, gref) => evicted.push(gref));
  const a = lru.insert(10, 10);
  lru.insert(11, 11);
  const c = lru.insert(12, 12);
  lru.pin(a);
  lru.pin(c);
  t.is(lru.purge(3), 1, 'only the unpinned entry goes');
  t.deepEqual(evicted, [11]);
  t.true(lru.pinned(a));
  t.is(lru.purge(3), 0, 'every entry left is pinned');
  lru.unpin(a);
  t.is(lru.purge(3), 1);
  t.deepEqual(evicted, [11, 10]);
  t.deepEqual(lru.order(), [12]);
  lru.unpin(c);
  t.false(lru.pinned(c));
});

test('clear evicts everything; random operations keep the structure consistent', (t) => {
  const live = new Set<number>();
  const lru = new GrantLru<number>(16, (_v, gref) => {
    t.true(live.delete(gref));
  });
  let seed = 12345;
  const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) % 40;
  for (let i = 0; i < 5000; i++) {
    const g = rand();
    if (lru.lookup(g) === -1) {
      if (lru.full) t.is(lru.purge(3), 3);
      t.not(lru.insert(g, g), -1);
      live.add(g);
    }
    t.is(lru.size, live.size);
    t.true(lru.size <= 16);
  }
  t.deepEqual([...lru.order()].sort((a, b) => a - b), [...live].sort((a, b) => a - b));
  lru.clear();
  t.is(lru.size, 0);
  t.is(live.size, 0);
});
