/**
 * Grant ref -> cache slot, for the persistent-grant caches: an open-addressing hash table with
 * linear probing in two preallocated typed arrays, looked up for every segment of every request.
 * Allocates nothing after construction (a Map of numbers may grow and rehash, and costs more per
 * lookup). At most half full, so a probe always ends at an empty bucket; deletion shifts the
 * following entries back (no tombstones), so lookups never slow down with churn.
 */
import { assert } from '../util/assert.js';

const EMPTY = 0;

export class GrefIndex {
  private readonly keys: Uint32Array;
  /** slot + 1; EMPTY for a free bucket. */
  private readonly vals: Int32Array;
  private readonly mask: number;
  private readonly shift: number;
  private count = 0;

  constructor(readonly entriesMax: number) {
    let bits = 3;
    while (1 << bits < entriesMax * 2) bits++;
    assert(bits <= 30, 'GrefIndex: too many entries');
    this.keys = new Uint32Array(1 << bits);
    this.vals = new Int32Array(1 << bits);
    this.mask = (1 << bits) - 1;
    this.shift = 32 - bits;
  }

  get size(): number {
    return this.count;
  }

  /** The slot stored for `gref`, or -1. */
  get(gref: number): number {
    const i = this.find(gref);
    return i < 0 ? -1 : this.vals[i]! - 1;
  }

  /** Store `slot` (>= 0) for `gref`, which must be absent. */
  add(gref: number, slot: number): void {
    assert(this.count < this.entriesMax, 'GrefIndex: full');
    let i = this.home(gref);
    while (this.vals[i] !== EMPTY) {
      assert(this.keys[i] !== gref, 'GrefIndex: gref already present');
      i = (i + 1) & this.mask;
    }
    this.keys[i] = gref;
    this.vals[i] = slot + 1;
    this.count++;
  }

  /** Remove `gref` if present. */
  delete(gref: number): void {
    let hole = this.find(gref);
    if (hole < 0) return;
    this.vals[hole] = EMPTY;
    this.count--;
    // Backward-shift: move each following entry of the run into the hole when its home bucket
    // does not lie between the hole and where it sits, so every entry stays reachable.
    const mask = this.mask;
    for (let j = (hole + 1) & mask; this.vals[j] !== EMPTY; j = (j + 1) & mask) {
      const home = this.home(this.keys[j]!);
      if (((j - home) & mask) >= ((j - hole) & mask)) {
        this.keys[hole] = this.keys[j]!;
        this.vals[hole] = this.vals[j]!;
        this.vals[j] = EMPTY;
        hole = j;
      }
    }
  }

  private find(gref: number): number {
    const mask = this.mask;
    for (let i = this.home(gref); this.vals[i] !== EMPTY; i = (i + 1) & mask) {
      if (this.keys[i] === gref) return i;
    }
    return -1;
  }

  /** Fibonacci hashing: the top bits of gref * 2^32/phi spread consecutive refs apart. */
  private home(gref: number): number {
    return Math.imul(gref, 0x9e3779b1) >>> this.shift;
  }
}
