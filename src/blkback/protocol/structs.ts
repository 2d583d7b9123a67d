/**
 * The blkif structs of xen/io/blkif.h, declared once with their C names. Their per-ABI layouts
 * come from ctypes.ts; Linux's blkif_x86_32_request / blkif_x86_64_request (xen-blkback's
 * common.h) are the same bytes written as packed structs.
 */
import type { StructDef } from './ctypes.js';
import { BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST, BLKIF_MAX_SEGMENTS_PER_REQUEST } from './ops.js';

/** struct blkif_request_segment: 8 bytes in every ABI. */
export const blkif_request_segment: StructDef = {
  cName: 'blkif_request_segment',
  fields: [
    { name: 'gref', type: 'u32' }, // grant_ref_t gref: the I/O buffer frame
    { name: 'first_sect', type: 'u8' }, // first sector in the frame (inclusive)
    { name: 'last_sect', type: 'u8' }, // last sector in the frame (inclusive)
  ],
};

/** struct blkif_request: READ, WRITE, WRITE_BARRIER, FLUSH_DISKCACHE (and the common header). */
export const blkif_request: StructDef = {
  cName: 'blkif_request',
  fields: [
    { name: 'operation', type: 'u8' }, // BLKIF_OP_???
    { name: 'nr_segments', type: 'u8' },
    { name: 'handle', type: 'u16' }, // blkif_vdev_t
    { name: 'id', type: 'u64' }, // private guest value, echoed in the response
    { name: 'sector_number', type: 'u64' }, // blkif_sector_t, 512-byte units
    { name: 'seg', type: blkif_request_segment, count: BLKIF_MAX_SEGMENTS_PER_REQUEST },
  ],
};

/** struct blkif_request_discard. */
export const blkif_request_discard: StructDef = {
  cName: 'blkif_request_discard',
  fields: [
    { name: 'operation', type: 'u8' }, // BLKIF_OP_DISCARD
    { name: 'flag', type: 'u8' }, // BLKIF_DISCARD_SECURE or zero
    { name: 'handle', type: 'u16' },
    { name: 'id', type: 'u64' },
    { name: 'sector_number', type: 'u64' },
    { name: 'nr_sectors', type: 'u64' },
  ],
};

/** struct blkif_request_indirect. */
export const blkif_request_indirect: StructDef = {
  cName: 'blkif_request_indirect',
  fields: [
    { name: 'operation', type: 'u8' }, // BLKIF_OP_INDIRECT
    { name: 'indirect_op', type: 'u8' }, // BLKIF_OP_{READ/WRITE}
    { name: 'nr_segments', type: 'u16' },
    { name: 'id', type: 'u64' },
    { name: 'sector_number', type: 'u64' },
    { name: 'handle', type: 'u16' },
    { name: 'indirect_grefs', type: 'u32', count: BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST },
    { name: 'pad', type: 'u64', onlyIn: 'x86_32' }, // "Make it 64 byte aligned on i386"
  ],
};

/** struct blkif_response. */
export const blkif_response: StructDef = {
  cName: 'blkif_response',
  fields: [
    { name: 'id', type: 'u64' }, // copied from the request
    { name: 'operation', type: 'u8' }, // copied from the request
    { name: 'status', type: 'i16' }, // BLKIF_RSP_???
  ],
};

export const BLKIF_STRUCTS: readonly StructDef[] = [
  blkif_request_segment,
  blkif_request,
  blkif_request_discard,
  blkif_request_indirect,
  blkif_response,
];
