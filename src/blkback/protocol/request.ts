/**
 * The private, preallocated copies of requests and responses. A backend reads each request
 * out of shared memory once into a BlkifRequest and validates only that copy (XSA-155: the
 * frontend may rewrite the slot at any time). Objects are pooled: one per ring slot, allocated at
 * connect time, so the data path allocates nothing.
 */
import { assert } from '../../util/assert.js';
import { BLKIF_INDIRECT_SEGMENTS_MAX, BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST, BLKIF_MAX_SEGMENTS_PER_REQUEST } from './ops.js';

/** The largest request slot of any ABI (sizeof(struct blkif_request) on x86_64). */
export const BLKIF_REQUEST_BYTES_MAX = 112;

export class BlkifRequest {
  /** The raw `operation` byte; decode with opFromWire(). */
  operation = 0;
  /**
   * Direct requests: nr_segments (uint8_t). Indirect: nr_segments (uint16_t). Discard: 0. Taken
   * from the wire unchecked: validation compares it with the limits.
   */
  nrSegments = 0;
  /** blkif_vdev_t handle. */
  handle = 0;
  /** The 64-bit id, as two unsigned 32-bit halves, echoed untouched in the response. */
  idLo = 0;
  idHi = 0;
  /**
   * sector_number (512-byte units) as a double: exact below 2^53; larger values are beyond any
   * disk and fail the range check all the same.
   */
  sectorNumber = 0;
  /** Discard: nr_sectors (same representation as sectorNumber). */
  nrSectors = 0;
  /** Discard: flag (BLKIF_DISCARD_SECURE). */
  flag = 0;
  /** Indirect: indirect_op (BLKIF_OP_READ or BLKIF_OP_WRITE, unchecked). */
  indirectOp = 0;
  /** Indirect: indirect_grefs[8]. */
  readonly indirectGrefs = new Uint32Array(BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST);
  /**
   * Segments: the direct ones (seg[], up to 11) copied from the slot, or the indirect ones copied
   * from the indirect pages by readIndirectSegments(). Only [0, segmentCount) is meaningful.
   */
  readonly gref: Uint32Array;
  readonly firstSect: Uint8Array;
  readonly lastSect: Uint8Array;
  /** How many entries of gref/firstSect/lastSect hold segments of this request. */
  segmentCount = 0;
  /** `segmentsMax`: room for segments, 11 for direct-only, up to 4096 for indirect. */
  constructor(readonly segmentsMax: number = BLKIF_MAX_SEGMENTS_PER_REQUEST) {
    assert(segmentsMax >= BLKIF_MAX_SEGMENTS_PER_REQUEST && segmentsMax <= BLKIF_INDIRECT_SEGMENTS_MAX, `segmentsMax ${segmentsMax}`);
    this.gref = new Uint32Array(segmentsMax);
    this.firstSect = new Uint8Array(segmentsMax);
    this.lastSect = new Uint8Array(segmentsMax);
  }

  /** Reset every field (a frontend building a request starts from here). */
  clear(): void {
    this.operation = 0;
    this.nrSegments = 0;
    this.handle = 0;
    this.idLo = 0;
    this.idHi = 0;
    this.sectorNumber = 0;
    this.nrSectors = 0;
    this.flag = 0;
    this.indirectOp = 0;
    this.indirectGrefs.fill(0);
    this.segmentCount = 0;
  }
}

export class BlkifResponse {
  idLo = 0;
  idHi = 0;
  /** The raw `operation` byte. */
  operation = 0;
  /** int16_t status (BLKIF_RSP_*; decode with statusFromWire). */
  status = 0;
}
