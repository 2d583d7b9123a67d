/**
 * The persistent cache of indirect pages of one ring (persistent grants negotiated): grant ref ->
 * a read-only mapping of the frontend's segment list and a DataView over it, so an indirect
 * request reuses its pages without a map, an unmap and a DataView per request.
 *
 * Kept apart from the data-grant cache because frontends grant indirect pages read-only (the
 * backend only reads them; our C blkfront and the test workloads do), while data grants are
 * cached writable (blkif.h note 8). The policy is the data cache's (see data-grants.ts): a full
 * cache never evicts on the request path; the caller maps that page for the request only, and an
 * overflow arms a background purge of the least recently used entries.
 *
 * Nothing is pinned: readIndirectSegments() copies the segments out at once, and purges only
 * run from a timer, so an entry cannot go away while it is read.
 */
import type { DomId, ForeignMapping, GrantMapper } from '../hypervisor/api.js';
import { BackgroundPurge, GrantLru } from './grant-lru.js';
import type { BlkifCodec } from './protocol/codec.js';
import { BLKIF_SEGMENTS_PER_INDIRECT_FRAME } from './protocol/ops.js';
import type { BlkifRequest } from './protocol/request.js';
import type { RingCounters } from './stats.js';

const PAGE_BYTES = 4096;

interface Page {
  mapping: ForeignMapping;
  view: DataView;
}

export class IndirectPages {
  private readonly cache: GrantLru<Page>;
  private readonly oneRef = new Uint32Array(1);
  private readonly purger: BackgroundPurge<Page>;

  constructor(
    private readonly domid: DomId,
    private readonly mapper: GrantMapper,
    capacity: number,
    private readonly counters: RingCounters,
  ) {
    this.cache = new GrantLru<Page>(capacity, (page) => page.mapping.unmap());
    this.purger = new BackgroundPurge(this.cache, (count) => (this.counters.persistentPurged += count));
  }

  get size(): number {
    return this.cache.size;
  }

  /** A view of page `gref` (mapped read-only and cached on a miss); null to map it per request. */
  view(gref: number): DataView | null {
    const cache = this.cache;
    const hit = cache.lookup(gref);
    if (hit >= 0) {
      this.counters.persistentHits++;
      return cache.value(hit).view;
    }
    this.counters.persistentMisses++;
    if (cache.full) {
      this.counters.persistentOverflows++;
      this.purger.schedule();
      return null;
    }
    let mapping: ForeignMapping;
    try {
      this.oneRef[0] = gref;
      mapping = this.mapper.mapGrantRefs(this.domid, this.oneRef, 1, false);
    } catch {
      return null; // The per-request mapping fails the same way and answers the request.
    }
    const page: Page = { mapping, view: new DataView(mapping.buffer) };
    if (cache.insert(gref, page) < 0) {
      mapping.unmap();
      return null;
    }
    return page.view;
  }

  /** Unmap every cached page. */
  clear(): void {
    this.purger.cancel();
    this.cache.clear();
  }
}

/**
 * Copy the `n` segments of the indirect request in `req` out of its `pages` indirect pages,
 * once. With persistent grants (`cache` not null) the pages come from the persistent cache (no
 * mapping per request); otherwise, or when the cache cannot take them, they are mapped read-only
 * for this request only (the backend never writes the frontend's segment lists). False on a map
 * failure.
 */
export function readIndirectSegments(req: BlkifRequest, n: number, pages: number, codec: BlkifCodec,
  cache: IndirectPages | null, mapper: GrantMapper, domid: DomId): boolean {
  if (cache !== null) {
    let page = 0;
    for (; page < pages; page++) {
      const view = cache.view(req.indirectGrefs[page]!);
      if (view === null) break;
      const first = page * BLKIF_SEGMENTS_PER_INDIRECT_FRAME;
      codec.readIndirectSegments(view, 0, 0, Math.min(BLKIF_SEGMENTS_PER_INDIRECT_FRAME, n - first), req, first);
    }
    if (page === pages) return true;
  }
  let indirect: ForeignMapping;
  try {
    indirect = mapper.mapGrantRefs(domid, req.indirectGrefs, pages, false);
  } catch {
    return false;
  }
  const view = new DataView(indirect.buffer);
  for (let page = 0; page < pages; page++) {
    const first = page * BLKIF_SEGMENTS_PER_INDIRECT_FRAME;
    codec.readIndirectSegments(view, page * PAGE_BYTES, 0, Math.min(BLKIF_SEGMENTS_PER_INDIRECT_FRAME, n - first), req, first);
  }
  indirect.unmap();
  return true;
}
