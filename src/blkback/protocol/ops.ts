/**
 * blkif wire constants (xen/io/blkif.h), with their C names. A wire value decodes to a typed
 * value or `undefined`; an unknown operation is the frontend's error, answered EOPNOTSUPP.
 */

export const BLKIF_OP_READ = 0;
export const BLKIF_OP_WRITE = 1;
/** Write, with all earlier requests completed and the data on stable storage first. */
export const BLKIF_OP_WRITE_BARRIER = 2;
/** Flush the disk's write cache; nr_segments may be 0 (an empty flush). */
export const BLKIF_OP_FLUSH_DISKCACHE = 3;
/** Used by an old Linux frontend; a backend answers EOPNOTSUPP. */
export const BLKIF_OP_RESERVED_1 = 4;
/** Discard sectors (the blkif_request_discard layout). */
export const BLKIF_OP_DISCARD = 5;
/** A read or write whose segments live in granted indirect pages (blkif_request_indirect). */
export const BLKIF_OP_INDIRECT = 6;

export type BlkifOp =
  | typeof BLKIF_OP_READ
  | typeof BLKIF_OP_WRITE
  | typeof BLKIF_OP_WRITE_BARRIER
  | typeof BLKIF_OP_FLUSH_DISKCACHE
  | typeof BLKIF_OP_RESERVED_1
  | typeof BLKIF_OP_DISCARD
  | typeof BLKIF_OP_INDIRECT;

/** The names, for stats and messages. */
export const BLKIF_OP_NAMES: Readonly<Record<BlkifOp, string>> = {
  [BLKIF_OP_READ]: 'read',
  [BLKIF_OP_WRITE]: 'write',
  [BLKIF_OP_WRITE_BARRIER]: 'write-barrier',
  [BLKIF_OP_FLUSH_DISKCACHE]: 'flush-diskcache',
  [BLKIF_OP_RESERVED_1]: 'reserved-1',
  [BLKIF_OP_DISCARD]: 'discard',
  [BLKIF_OP_INDIRECT]: 'indirect',
};

/** Decode the `operation` byte. */
export function opFromWire(n: number): BlkifOp | undefined {
  return Number.isInteger(n) && n >= BLKIF_OP_READ && n <= BLKIF_OP_INDIRECT ? (n as BlkifOp) : undefined;
}

/** Response status (int16_t status). */
export const BLKIF_RSP_OKAY = 0;
/** Failed for some unspecified reason (-EIO). */
export const BLKIF_RSP_ERROR = -1;
/** Operation not supported. */
export const BLKIF_RSP_EOPNOTSUPP = -2;
export type BlkifStatus = typeof BLKIF_RSP_OKAY | typeof BLKIF_RSP_ERROR | typeof BLKIF_RSP_EOPNOTSUPP;

export function statusFromWire(n: number): BlkifStatus | undefined {
  return n === BLKIF_RSP_OKAY || n === BLKIF_RSP_ERROR || n === BLKIF_RSP_EOPNOTSUPP ? n : undefined;
}

/** BLKIF_MAX_SEGMENTS_PER_REQUEST: segments in a direct request. */
export const BLKIF_MAX_SEGMENTS_PER_REQUEST = 11;
/** BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST: indirect_grefs[] in an indirect request. */
export const BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST = 8;
/** One blkif_request_segment is 8 bytes, so a 4096-byte indirect page holds 512. */
export const BLKIF_SEGMENTS_PER_INDIRECT_FRAME = 4096 / 8;
/** The most segments an indirect request can carry: 8 pages of 512. */
export const BLKIF_INDIRECT_SEGMENTS_MAX = BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST * BLKIF_SEGMENTS_PER_INDIRECT_FRAME;
/** blkif_request_discard.flag: a secure discard (honoured only with discard-secure=1). */
export const BLKIF_DISCARD_SECURE = 1 << 0;

/** Ring sector fields and `sectors` are in 512-byte units, whatever the sector-size. */
export const BLKIF_SECTOR_BYTES = 512;
/** A segment addresses sectors first_sect..last_sect (inclusive) of one 4096-byte page. */
export const BLKIF_SECTORS_PER_PAGE = 8;

/** `info` bits (VDISK_*). */
export const VDISK_CDROM = 0x1;
export const VDISK_REMOVABLE = 0x2;
export const VDISK_READONLY = 0x4;
