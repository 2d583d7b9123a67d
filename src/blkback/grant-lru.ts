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
 * Recency is a use stamp per entry in preallocated typed arrays, so lookups allocate nothing.
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
  /**
   * When each slot was last used, on a private clock that ticks once per lookup or insert: a
   * hit costs one store (Linux xen-blkback likewise stamps `last_used` rather than keeping a
   * list). Only purge() and order(), off the request path, sort by it. Doubles: the clock
   * cannot wrap (2^53 uses).
   */
  private readonly lastUsed: Float64Array;
  private readonly live: Uint8Array;
  private readonly pins: Uint32Array;
  private readonly values: (T | undefined)[];
  private readonly free: Int32Array;
  private freeCount: number;
  private clock = 0;
  evictions = 0;

  constructor(capacity: number, private readonly onEvict: (value: T, gref: number) => void) {
    assert(Number.isInteger(capacity) && capacity > 0, 'GrantLru capacity must be a positive integer');
    this.capacity = capacity;
    this.slotOf = new GrefIndex(capacity);
    this.grefs = new Uint32Array(capacity);
    this.lastUsed = new Float64Array(capacity);
    this.live = new Uint8Array(capacity);
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

  /** The slot holding `gref`, marked most recently used; -1 when absent. */
  lookup(gref: number): number {
    const slot = this.slotOf.get(gref);
    if (slot < 0) return NIL;
    this.lastUsed[slot] = ++this.clock;
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
    this.live[slot] = 1;
    this.lastUsed[slot] = ++this.clock;
    this.slotOf.add(gref, slot);
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
    return this.byUse().reverse().map((slot) => this.grefs[slot]!);
  }

  /** Evict everything. The caller guarantees that nothing is in flight. */
  clear(): void {
    for (const slot of this.byUse()) {
      assert(this.pins[slot] === 0, 'GrantLru: clear with a pinned entry');
      this.remove(slot);
    }
  }

  /**
   * Evict up to `count` entries, least recently used first, skipping pinned ones. Returns how
   * many were evicted. Sorts the cache's slots: a background job, never on the request path.
   */
  purge(count: number): number {
    let evicted = 0;
    for (const slot of this.byUse()) {
      if (evicted === count) break;
      if (this.pins[slot] !== 0) continue;
      this.remove(slot);
      evicted++;
    }
    this.evictions += evicted;
    return evicted;
  }

  /** The live slots, least recently used first. */
  private byUse(): number[] {
    const slots: number[] = [];
    for (let slot = 0; slot < this.capacity; slot++) if (this.live[slot] === 1) slots.push(slot);
    return slots.sort((a, b) => this.lastUsed[a]! - this.lastUsed[b]!);
  }

  private remove(slot: number): void {
    const value = this.values[slot]!;
    const gref = this.grefs[slot]!;
    this.slotOf.delete(gref);
    this.values[slot] = undefined;
    this.live[slot] = 0;
    this.free[this.freeCount++] = slot;
    this.onEvict(value, gref);
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
