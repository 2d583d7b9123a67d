/**
 * Grant ref -> cache slot, for the persistent-grant caches: an open-addressing hash table with
 * linear probing in one preallocated typed array, looked up for every segment of every request.
 * Allocates nothing after construction (a Map of numbers may grow and rehash, and costs more per
 * lookup). At most half full, so a probe always ends at an empty bucket; deletion shifts the
 * following entries back (no tombstones), so lookups never slow down with churn.
 *
 * Each bucket is two adjacent words (the ref, then slot + 1), so a lookup touches one cache line.
 * Frontends grant their pages with consecutive refs, and the home bucket keeps them adjacent
 * (the low bits of the ref, folded with the high ones): a ring's working set of grants then sits
 * in a few contiguous cache lines instead of one line per grant, which is what a scattering hash
 * costs at a few hundred requests in flight.
 */
import { assert } from '../util/assert.js';

const EMPTY = 0;

export class GrefIndex {
  /** Bucket i: [2i] the ref, [2i + 1] its slot + 1 (EMPTY for a free bucket). */
  private readonly table: Int32Array;
  private readonly mask: number;
  private readonly bits: number;
  private count = 0;

  constructor(readonly entriesMax: number) {
    let bits = 3;
    while (1 << bits < entriesMax * 2) bits++;
    assert(bits <= 29, 'GrefIndex: too many entries');
    this.table = new Int32Array(2 << bits);
    this.mask = (1 << bits) - 1;
    this.bits = bits;
  }

  get size(): number {
    return this.count;
  }

  /** The slot stored for `gref`, or -1. */
  get(gref: number): number {
    const i = this.find(gref);
    return i < 0 ? -1 : this.table[2 * i + 1]! - 1;
  }

  /** Store `slot` (>= 0) for `gref`, which must be absent. */
  add(gref: number, slot: number): void {
    assert(this.count < this.entriesMax, 'GrefIndex: full');
    const t = this.table;
    const key = gref | 0;
    let i = this.home(gref);
    while (t[2 * i + 1] !== EMPTY) {
      assert(t[2 * i] !== key, 'GrefIndex: gref already present');
      i = (i + 1) & this.mask;
    }
    t[2 * i] = key;
    t[2 * i + 1] = slot + 1;
    this.count++;
  }

  /** Remove `gref` if present. */
  delete(gref: number): void {
    let hole = this.find(gref);
    if (hole < 0) return;
    const t = this.table;
    t[2 * hole + 1] = EMPTY;
    this.count--;
    // Backward-shift: move each following entry of the run into the hole when its home bucket
    // does not lie between the hole and where it sits, so every entry stays reachable.
    const mask = this.mask;
    for (let j = (hole + 1) & mask; t[2 * j + 1] !== EMPTY; j = (j + 1) & mask) {
      const home = this.home(t[2 * j]! >>> 0);
      if (((j - home) & mask) >= ((j - hole) & mask)) {
        t[2 * hole] = t[2 * j]!;
        t[2 * hole + 1] = t[2 * j + 1]!;
        t[2 * j + 1] = EMPTY;
        hole = j;
      }
    }
  }

  private find(gref: number): number {
    const t = this.table;
    const mask = this.mask;
    const key = gref | 0;
    for (let i = this.home(gref); t[2 * i + 1] !== EMPTY; i = (i + 1) & mask) {
      if (t[2 * i] === key) return i;
    }
    return -1;
  }

  /** The ref's low bits with the higher ones folded in: consecutive refs land in adjacent buckets. */
  private home(gref: number): number {
    return (gref ^ (gref >>> this.bits) ^ (gref >>> (2 * this.bits))) & this.mask;
  }
}
