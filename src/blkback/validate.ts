/**
 * Request validation: a pure module over the fields of a request already copied out of the
 * shared ring (never over the ring itself: the frontend can rewrite a slot at any time).
 *
 * The answers are Linux xen-blkback's (dispatch_rw_block_io, xen_vbd_translate,
 * dispatch_discard_io, dispatch_other_io), in Linux's order:
 *  1. operation: RESERVED_1 and unknown codes -> EOPNOTSUPP; INDIRECT whose inner op is not
 *     READ/WRITE -> ERROR (the response echoes the inner op);
 *  2. segment count: 0 only for FLUSH_DISKCACHE/WRITE_BARRIER, at most 11 direct, at most the
 *     advertised count indirect -> ERROR;
 *  3. a read-only VBD refuses every op but READ (WRITE, FLUSH, BARRIER, DISCARD) -> ERROR;
 *  4. an op we did not advertise (flush, barrier, discard) -> EOPNOTSUPP;
 *  5. each segment: first_sect <= last_sect <= 7 -> ERROR;
 *  6. the sector range against the VBD's size -> ERROR.
 * FLUSH_DISKCACHE and WRITE_BARRIER may carry data, as Linux blkfront sends for FUA writes; the
 * data is written, then flushed.
 *
 * Sector numbers are u64 on the wire and arrive here as Numbers. The conversion is monotonic, so
 * a value >= 2^53 stays >= 2^53 > any VBD size and is refused; and a sum of Numbers cannot wrap,
 * so `sector + count > sectors` is the u64-wrap-safe test Linux makes in two steps.
 */
import {
  BLKIF_DISCARD_SECURE,
  BLKIF_OP_DISCARD,
  BLKIF_OP_FLUSH_DISKCACHE,
  BLKIF_OP_INDIRECT,
  BLKIF_OP_READ,
  BLKIF_OP_WRITE,
  BLKIF_OP_WRITE_BARRIER,
  BLKIF_RSP_EOPNOTSUPP,
  BLKIF_RSP_ERROR,
  BLKIF_RSP_OKAY,
  BLKIF_SECTORS_PER_PAGE,
  BLKIF_MAX_SEGMENTS_PER_REQUEST,
} from './protocol/ops.js';

/** What the VBD offers, fixed at connect time. */
export interface VbdCaps {
  /** Size in 512-byte sectors. */
  sectors: number;
  readonly: boolean;
  /** feature-max-indirect-segments (0: indirect not offered). */
  indirectSegmentsMax: number;
  flush: boolean;
  barrier: boolean;
  discard: boolean;
  discardSecure: boolean;
}

export enum Verdict {
  Ok = 0,
  UnknownOp,
  IndirectBadOp,
  IndirectUnsupported,
  SegmentsZero,
  SegmentsTooMany,
  ReadOnly,
  FlushUnsupported,
  BarrierUnsupported,
  DiscardUnsupported,
  SegmentBounds,
  BeyondEnd,
  MapFailed,
  IoError,
}

const REASONS: Record<Verdict, string> = {
  [Verdict.Ok]: 'ok',
  [Verdict.UnknownOp]: 'unknown or reserved operation',
  [Verdict.IndirectBadOp]: 'indirect operation is not READ or WRITE',
  [Verdict.IndirectUnsupported]: 'indirect requests not offered',
  [Verdict.SegmentsZero]: 'no segments',
  [Verdict.SegmentsTooMany]: 'too many segments',
  [Verdict.ReadOnly]: 'write access to a read-only VBD',
  [Verdict.FlushUnsupported]: 'flush not offered',
  [Verdict.BarrierUnsupported]: 'barrier not offered',
  [Verdict.DiscardUnsupported]: 'discard not offered',
  [Verdict.SegmentBounds]: 'segment sectors out of the page (first_sect > last_sect or last_sect > 7)',
  [Verdict.BeyondEnd]: 'sector range beyond the end of the VBD',
  [Verdict.MapFailed]: 'grant mapping failed',
  [Verdict.IoError]: 'I/O error',
};

export const verdictReason = (v: Verdict): string => REASONS[v];

/** The BLKIF_RSP_* status a verdict answers with. */
export function verdictStatus(v: Verdict): number {
  switch (v) {
    case Verdict.Ok:
      return BLKIF_RSP_OKAY;
    case Verdict.UnknownOp:
    case Verdict.IndirectUnsupported:
    case Verdict.FlushUnsupported:
    case Verdict.BarrierUnsupported:
    case Verdict.DiscardUnsupported:
      return BLKIF_RSP_EOPNOTSUPP;
    default:
      return BLKIF_RSP_ERROR;
  }
}

/** The operation a response echoes: an indirect request's inner op, else the op itself. */
export const responseOp = (op: number, indirectOp: number): number => (op === BLKIF_OP_INDIRECT ? indirectOp : op);

/**
 * Steps 1-4: operation, segment count, read-only, advertised features. `nrSegments` is the
 * direct u8 or indirect u16 count; it is ignored for DISCARD (whose byte there is `flag`).
 */
export function checkOp(op: number, indirectOp: number, nrSegments: number, caps: VbdCaps): Verdict {
  switch (op) {
    case BLKIF_OP_READ:
    case BLKIF_OP_WRITE:
      if (nrSegments === 0) return Verdict.SegmentsZero;
      if (nrSegments > BLKIF_MAX_SEGMENTS_PER_REQUEST) return Verdict.SegmentsTooMany;
      return op === BLKIF_OP_WRITE && caps.readonly ? Verdict.ReadOnly : Verdict.Ok;
    case BLKIF_OP_WRITE_BARRIER:
    case BLKIF_OP_FLUSH_DISKCACHE:
      if (nrSegments > BLKIF_MAX_SEGMENTS_PER_REQUEST) return Verdict.SegmentsTooMany;
      if (caps.readonly) return Verdict.ReadOnly;
      if (op === BLKIF_OP_FLUSH_DISKCACHE) return caps.flush ? Verdict.Ok : Verdict.FlushUnsupported;
      return caps.barrier ? Verdict.Ok : Verdict.BarrierUnsupported;
    case BLKIF_OP_DISCARD:
      if (caps.readonly) return Verdict.ReadOnly;
      return caps.discard ? Verdict.Ok : Verdict.DiscardUnsupported;
    case BLKIF_OP_INDIRECT:
      if (caps.indirectSegmentsMax === 0) return Verdict.IndirectUnsupported;
      if (indirectOp !== BLKIF_OP_READ && indirectOp !== BLKIF_OP_WRITE) return Verdict.IndirectBadOp;
      if (nrSegments === 0) return Verdict.SegmentsZero;
      if (nrSegments > caps.indirectSegmentsMax) return Verdict.SegmentsTooMany;
      return indirectOp === BLKIF_OP_WRITE && caps.readonly ? Verdict.ReadOnly : Verdict.Ok;
    default:
      // BLKIF_OP_RESERVED_1 and every unknown code (Linux dispatch_other_io).
      return Verdict.UnknownOp;
  }
}

/**
 * Step 5: every segment's first_sect <= last_sect <= 7. Returns the number of 512-byte sectors
 * the segments cover, or -1 when one is out of bounds.
 */
export function checkSegments(firstSect: Uint8Array, lastSect: Uint8Array, count: number): number {
  let sectors = 0;
  for (let i = 0; i < count; i++) {
    const first = firstSect[i]!;
    const last = lastSect[i]!;
    if (first > last || last >= BLKIF_SECTORS_PER_PAGE) return -1;
    sectors += last - first + 1;
  }
  return sectors;
}

/** Step 6: [sector, sector + count) within the VBD. */
export function checkRange(sector: number, count: number, caps: VbdCaps): Verdict {
  // Both operands are exact or monotonically rounded u64 values; see the header comment.
  if (!(sector >= 0) || !(count >= 0)) return Verdict.BeyondEnd;
  return sector + count > caps.sectors ? Verdict.BeyondEnd : Verdict.Ok;
}

/** BLKIF_DISCARD_SECURE is honoured only when discard-secure was advertised ("ignored if 0"). */
export const discardIsSecure = (flag: number, caps: VbdCaps): boolean => caps.discardSecure && (flag & BLKIF_DISCARD_SECURE) !== 0;
