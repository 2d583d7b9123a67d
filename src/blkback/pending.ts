/**
 * A request in flight (Linux's pending_req): the few fields of the frontend's request that the
 * response needs, the grant mappings the I/O uses, and the pooled TdRequest handed to tapdisk.
 * One per ring slot, allocated at connect time; nothing here is allocated per request.
 *
 * Direct requests use the small segment arrays (11 entries). An indirect request borrows a
 * SegmentTable sized for the advertised maximum from the ring's small pool of them, and gives it
 * back on completion, so a 4096-segment capability does not cost 4096 entries per ring slot.
 */
import { TdOp, type TdRequest } from '../tapdisk/api.js';
import type { ForeignMapping } from '../hypervisor/api.js';
import { BLKIF_MAX_SEGMENTS_PER_REQUEST } from './protocol/ops.js';

/** Segment arrays for one request: tapdisk's (region, offset, length) and the pinned cache slots. */
export class SegmentTable {
  readonly region: Uint32Array;
  readonly offset: Uint32Array;
  readonly length: Uint32Array;
  /** Persistent-grant cache slots this request pinned, [0, pinnedCount) of the Pending. */
  readonly pinned: Int32Array;

  constructor(readonly capacity: number) {
    this.region = new Uint32Array(capacity);
    this.offset = new Uint32Array(capacity);
    this.length = new Uint32Array(capacity);
    this.pinned = new Int32Array(capacity);
  }
}

export const enum Stage {
  /** Free in the pool. */
  Free = 0,
  /** Queued to tapdisk (the main I/O). */
  Io = 1,
  /** A FLUSH_DISKCACHE/WRITE_BARRIER with data: the write finished, the flush is queued. */
  FlushAfterWrite = 2,
  /** A barrier waiting for the requests before it to drain. */
  Draining = 3,
}

export class Pending {
  stage = Stage.Free;
  /** Echoed in the response. */
  idLo = 0;
  idHi = 0;
  /** The operation the response carries (the inner op of an indirect request). */
  responseOp = 0;
  /** Flush once the data is written (FLUSH_DISKCACHE or WRITE_BARRIER with segments). */
  flushAfter = false;
  /** A WRITE_BARRIER: later requests wait until it completes. */
  barrier = false;
  /** The per-request mapping of grants that are not (or could not be) cached persistently. */
  transient: ForeignMapping | null = null;
  transientRegion = -1;
  pinnedCount = 0;
  /** The segment table in use: `own` for direct requests, a borrowed one for indirect ones. */
  table: SegmentTable;
  readonly own: SegmentTable;
  readonly td: TdRequest;

  constructor(index: number, done: TdRequest['done']) {
    this.own = new SegmentTable(BLKIF_MAX_SEGMENTS_PER_REQUEST);
    this.table = this.own;
    this.td = {
      op: TdOp.Read,
      sector: 0,
      sectors: 0,
      secure: false,
      segments: 0,
      segRegion: this.own.region,
      segOffset: this.own.offset,
      segLength: this.own.length,
      done,
      tag: index,
    };
  }

  /** Point the TdRequest at `table`'s arrays. */
  useTable(table: SegmentTable): void {
    this.table = table;
    this.td.segRegion = table.region;
    this.td.segOffset = table.offset;
    this.td.segLength = table.length;
  }

  /** Back to the pool, after DataGrants.release() (which already dropped the grants' fields). */
  reset(): void {
    this.stage = Stage.Free;
    this.flushAfter = false;
    this.barrier = false;
    this.td.segments = 0;
    this.td.secure = false;
    if (this.table !== this.own) this.useTable(this.own);
  }
}
