/**
 * Mapping a request's data grants and describing them to tapdisk as (region, offset, length)
 * segments, one per blkif segment: segments are never merged here (two grants adjacent in the
 * request are not adjacent in guest memory); tapdisk merges only what is contiguous.
 *
 * Without persistent grants, every segment of a request is mapped in one call, read-only for a
 * WRITE (the backend only reads the guest's data) and writable for a READ, registered as one
 * region, and unmapped when the request completes (Linux's xen_blkbk_map / unmap per request).
 *
 * With persistent grants (both sides advertised feature-persistent), each grant is mapped once,
 * writable as blkif.h's note 8 allows, kept in the ring's GrantLru and reused by later requests.
 * A grant the cache cannot take (it is full) and a grant the frontend granted read-only for a
 * WRITE fall back to the per-request mapping. As in Linux xen-blkback, a full cache never evicts
 * on the request path: the overflow arms a background purge (every PURGE_INTERVAL_MS at most)
 * that unmaps the least recently used 5 % of the cache among entries no request is using,
 * making room for grants in current use. A frontend whose working set exceeds the cap therefore
 * costs one per-request mapping call for its excess grants, instead of an unmap and a remap of
 * every grant it uses.
 *
 * Every map result is checked: a failure answers that one request with BLKIF_RSP_ERROR.
 */
import type { DomId, ForeignMapping, GrantMapper } from '../hypervisor/api.js';
import { BackgroundPurge, GrantLru } from './grant-lru.js';
import type { Pending } from './pending.js';
import type { BlkifRequest } from './protocol/request.js';
import type { RingCounters } from './stats.js';

const PAGE_BYTES = 4096;
const SECTOR_BYTES = 512;

/** Where mapped memory is registered so tapdisk's native I/O may use it. */
export interface RegionPort {
  registerRegion(buffer: ArrayBuffer): number;
  unregisterRegion(region: number): void;
}

interface Persistent {
  mapping: ForeignMapping;
  region: number;
}

export class DataGrants {
  private readonly cache: GrantLru<Persistent> | null;
  /** The tapdisk region of each cache slot, read per segment without touching the entry object. */
  private readonly slotRegion: Uint32Array;
  /** Scratch list of the refs mapped per request, and which segment each belongs to. */
  private readonly refs: Uint32Array;
  private readonly segOf: Uint32Array;
  private readonly oneRef = new Uint32Array(1);
  private readonly purger: BackgroundPurge<Persistent> | null;

  constructor(
    private readonly domid: DomId,
    private readonly mapper: GrantMapper,
    private readonly regions: RegionPort,
    persistentMax: number,
    segmentsMax: number,
    private readonly counters: RingCounters,
  ) {
    this.cache = persistentMax > 0 ? new GrantLru<Persistent>(persistentMax, (p) => this.unmapPersistent(p)) : null;
    this.purger = this.cache === null ? null : new BackgroundPurge(this.cache, (count) => (this.counters.persistentPurged += count));
    this.slotRegion = new Uint32Array(Math.max(persistentMax, 0));
    this.refs = new Uint32Array(segmentsMax);
    this.segOf = new Uint32Array(segmentsMax);
  }

  get persistent(): boolean {
    return this.cache !== null;
  }

  get persistentCount(): number {
    return this.cache?.size ?? 0;
  }

  /**
   * Map segments [0, count) of `req` for `p` and fill p's segment table. `writable`: the
   * backend writes the pages (a READ). Returns false, with nothing left mapped, on any failure.
   */
  map(req: BlkifRequest, count: number, writable: boolean, p: Pending): boolean {
    const table = p.table;
    const cache = this.cache;
    let transientCount = 0;
    let hits = 0;
    for (let i = 0; i < count; i++) {
      const gref = req.gref[i]!;
      const first = req.firstSect[i]!;
      table.offset[i] = first * SECTOR_BYTES;
      table.length[i] = (req.lastSect[i]! - first + 1) * SECTOR_BYTES;
      // A hit is looked up here and the rest left to cachedSlot(), which keeps this loop small
      // enough to be inlined into the ring pass.
      let slot = cache === null ? -1 : cache.lookup(gref);
      if (slot >= 0) hits++;
      else if (cache !== null) slot = this.cachedSlot(gref);
      if (slot >= 0) {
        cache!.pin(slot);
        table.pinned[p.pinnedCount++] = slot;
        table.region[i] = this.slotRegion[slot]!;
      } else {
        this.refs[transientCount] = gref;
        this.segOf[transientCount++] = i;
      }
    }
    if (hits !== 0) this.counters.persistentHits += hits;
    return transientCount === 0 || this.mapTransient(p, transientCount, writable);
  }

  /** Map the `count` grants listed in refs/segOf for `p` alone, in one call. */
  private mapTransient(p: Pending, count: number, writable: boolean): boolean {
    const table = p.table;
    let mapping: ForeignMapping;
    try {
      mapping = this.mapper.mapGrantRefs(this.domid, this.refs, count, writable);
    } catch {
      this.release(p);
      return false;
    }
    const region = this.register(mapping);
    if (region < 0) {
      this.release(p);
      return false;
    }
    p.transient = mapping;
    p.transientRegion = region;
    for (let j = 0; j < count; j++) {
      const i = this.segOf[j]!;
      table.region[i] = region;
      table.offset[i]! += j * PAGE_BYTES;
    }
    return true;
  }

  /** Drop what `p` holds: unpin its cached grants, unmap its per-request mapping. */
  release(p: Pending): void {
    const n = p.pinnedCount;
    if (n !== 0) {
      const pinned = p.table.pinned;
      const cache = this.cache!;
      for (let i = 0; i < n; i++) cache.unpin(pinned[i]!);
      p.pinnedCount = 0;
    }
    if (p.transient !== null) {
      this.regions.unregisterRegion(p.transientRegion);
      p.transient.unmap();
      p.transient = null;
      p.transientRegion = -1;
    }
  }

  /** Unmap every cached grant. The caller guarantees no request is in flight. */
  clear(): void {
    this.purger?.cancel();
    this.cache?.clear();
  }

  /** The cache slot for `gref`, which missed the cache: mapped and inserted, or -1 to map it per request. */
  private cachedSlot(gref: number): number {
    const cache = this.cache!;
    this.counters.persistentMisses++;
    if (cache.full) {
      this.counters.persistentOverflows++;
      this.purger!.schedule();
      return -1;
    }
    let mapping: ForeignMapping;
    try {
      // Writable even for WRITE requests: a later READ may reuse the grant (blkif.h note 8).
      this.oneRef[0] = gref;
      mapping = this.mapper.mapGrantRefs(this.domid, this.oneRef, 1, true);
    } catch {
      return -1; // Perhaps granted read-only: the per-request mapping checks it for this op.
    }
    const region = this.register(mapping);
    if (region < 0) return -1;
    const entry: Persistent = { mapping, region };
    const slot = cache.insert(gref, entry);
    if (slot < 0) this.unmapPersistent(entry);
    else this.slotRegion[slot] = region;
    return slot;
  }

  /** Register a mapping for tapdisk's I/O; on failure (the process's region table is full) unmap it, -1. */
  private register(mapping: ForeignMapping): number {
    try {
      return this.regions.registerRegion(mapping.buffer);
    } catch {
      mapping.unmap();
      return -1;
    }
  }

  private unmapPersistent(p: Persistent): void {
    this.regions.unregisterRegion(p.region);
    p.mapping.unmap();
  }
}
