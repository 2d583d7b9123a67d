/**
 * The persistent-grant cache of one ring: grant ref -> mapping, capped, least-recently-used
 * eviction (blkif.h, feature-persistent: "a LRU strategy should be used to discard the grants
 * that are less commonly used"). A pure data structure: what a value is and how it is unmapped is
 * the caller's business (`onEvict`).
 *
 * Nothing is evicted on the request path (Linux xen-blkback's add_persistent_gnt: "not adding
 * more" once full): a full cache refuses insert() and the caller maps that grant for the one
 * request only. Room is made by purge(), which the caller runs in the background, away from the
 * request path: it evicts the least recently used entries that no request is using. Evicting on
 * insert would, once a frontend's working set exceeds the cap, unmap and remap grants on every
 * request (each eviction throwing out a grant the next request needs).
 * Entries in use by an in-flight request are pinned and never evicted.
 * The list lives in preallocated typed arrays, so lookups and moves allocate nothing.
 */
import { assert } from '../util/assert.js';
import { GrefIndex } from './gref-index.js';

const NIL = -1;

/** At most one background purge per this interval (Linux xen-blkback's LRU_INTERVAL). */
export const PURGE_INTERVAL_MS = 100;
/** Share of a cache one purge unmaps (Linux's LRU_PERCENT_CLEAN). */
const PURGE_PERCENT = 5;

/** Entries one background purge of a cache of `capacity` evicts (at least one). */
export function purgeCount(capacity: number): number {
  return Math.max(1, Math.floor((capacity * PURGE_PERCENT) / 100));
}

export class GrantLru<T> {
  readonly capacity: number;
  private readonly slotOf: GrefIndex;
  private readonly grefs: Uint32Array;
  private readonly prev: Int32Array;
  private readonly next: Int32Array;
  private readonly pins: Uint32Array;
  private readonly values: (T | undefined)[];
  private readonly free: Int32Array;
  private freeCount: number;
  /** Most recently used. */
  private head = NIL;
  /** Least recently used. */
  private tail = NIL;
  evictions = 0;

  constructor(capacity: number, private readonly onEvict: (value: T, gref: number) => void) {
    assert(Number.isInteger(capacity) && capacity > 0, 'GrantLru capacity must be a positive integer');
    this.capacity = capacity;
    this.slotOf = new GrefIndex(capacity);
    this.grefs = new Uint32Array(capacity);
    this.prev = new Int32Array(capacity).fill(NIL);
    this.next = new Int32Array(capacity).fill(NIL);
    this.pins = new Uint32Array(capacity);
    this.values = new Array<T | undefined>(capacity).fill(undefined);
    this.free = new Int32Array(capacity);
    for (let i = 0; i < capacity; i++) this.free[i] = capacity - 1 - i;
    this.freeCount = capacity;
  }

  get size(): number {
    return this.capacity - this.freeCount;
  }

  get full(): boolean {
    return this.freeCount === 0;
  }

  /** The slot holding `gref`, made most recently used; -1 when absent. */
  lookup(gref: number): number {
    const slot = this.slotOf.get(gref);
    if (slot < 0) return NIL;
    this.unlink(slot);
    this.pushFront(slot);
    return slot;
  }

  value(slot: number): T {
    const v = this.values[slot];
    assert(v !== undefined, 'GrantLru: empty slot');
    return v;
  }

  gref(slot: number): number {
    return this.grefs[slot]!;
  }

  /**
   * Add `gref` (which must be absent; GrefIndex.add asserts it) as most recently used. Returns the slot, or -1 when the
   * cache is full (nothing is evicted here; see purge()).
   */
  insert(gref: number, value: T): number {
    if (this.freeCount === 0) return NIL;
    const slot = this.free[--this.freeCount]!;
    this.grefs[slot] = gref;
    this.values[slot] = value;
    this.pins[slot] = 0;
    this.slotOf.add(gref, slot);
    this.pushFront(slot);
    return slot;
  }

  pin(slot: number): void {
    this.pins[slot]!++;
  }

  unpin(slot: number): void {
    assert(this.pins[slot]! > 0, 'GrantLru: unpin of an unpinned slot');
    this.pins[slot]!--;
  }

  pinned(slot: number): boolean {
    return this.pins[slot]! > 0;
  }

  /** Grant refs from most to least recently used (for tests and stats). */
  order(): number[] {
    const out: number[] = [];
    for (let s = this.head; s !== NIL; s = this.next[s]!) out.push(this.grefs[s]!);
    return out;
  }

  /** Evict everything. The caller guarantees that nothing is in flight. */
  clear(): void {
    while (this.tail !== NIL) {
      const slot = this.tail;
      assert(this.pins[slot] === 0, 'GrantLru: clear with a pinned entry');
      this.remove(slot);
    }
  }

  /**
   * Evict up to `count` entries, least recently used first, skipping pinned ones. Returns how
   * many were evicted.
   */
  purge(count: number): number {
    let evicted = 0;
    let s = this.tail;
    while (s !== NIL && evicted < count) {
      const prev = this.prev[s]!;
      if (this.pins[s] === 0) {
        this.remove(s);
        evicted++;
      }
      s = prev;
    }
    this.evictions += evicted;
    return evicted;
  }

  private remove(slot: number): void {
    const value = this.values[slot]!;
    const gref = this.grefs[slot]!;
    this.unlink(slot);
    this.slotOf.delete(gref);
    this.values[slot] = undefined;
    this.free[this.freeCount++] = slot;
    this.onEvict(value, gref);
  }

  private unlink(slot: number): void {
    const p = this.prev[slot]!;
    const n = this.next[slot]!;
    if (p === NIL) this.head = n;
    else this.next[p] = n;
    if (n === NIL) this.tail = p;
    else this.prev[n] = p;
    this.prev[slot] = NIL;
    this.next[slot] = NIL;
  }

  private pushFront(slot: number): void {
    this.prev[slot] = NIL;
    this.next[slot] = this.head;
    if (this.head !== NIL) this.prev[this.head] = slot;
    this.head = slot;
    if (this.tail === NIL) this.tail = slot;
  }
}

/**
 * Purges a full cache in the background, at most once per PURGE_INTERVAL_MS, the way Linux's
 * xen-blkback does it from its ring thread rather than on the request that found it full.
 */
export class BackgroundPurge<T> {
  private timer: NodeJS.Timeout | null = null;
  private readonly run = (): void => {
    this.timer = null;
    this.onPurged(this.cache.purge(purgeCount(this.cache.capacity)));
  };

  constructor(private readonly cache: GrantLru<T>, private readonly onPurged: (count: number) => void) {}

  /** A grant did not fit the full cache: make some room soon, off the request path. */
  schedule(): void {
    if (this.timer !== null) return;
    this.timer = setTimeout(this.run, PURGE_INTERVAL_MS);
    // A pending purge must not keep the process alive on its own.
    this.timer.unref();
  }

  cancel(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }
}
