/**
 * The blkif codecs, one per ABI, all built by one class from the layouts that ctypes.ts computes
 * for the structs of structs.ts. A codec is chosen once, at connect time, from the frontend's
 * `protocol` key; the data path then calls it without ever testing the ABI.
 *
 * All multi-byte fields are little-endian (both x86 ABIs).
 */
import { assert } from '../../util/assert.js';
import type { RingLayout } from '../../ring/sring.js';
import { ABI_X86_32, ABI_X86_64, layoutOf, type Abi, type StructLayout } from './ctypes.js';
import { BLKIF_MAX_SEGMENTS_PER_REQUEST, BLKIF_OP_DISCARD, BLKIF_OP_INDIRECT } from './ops.js';
import { BLKIF_REQUEST_BYTES_MAX, type BlkifRequest, type BlkifResponse } from './request.js';
import { blkif_request, blkif_request_discard, blkif_request_indirect, blkif_request_segment, blkif_response } from './structs.js';

/** Shared memory as the codec sees it: SharedRing (src/ring) provides both views. */
export interface SlotMemory {
  readonly bytes: Uint8Array;
  readonly view: DataView;
}

const LE = true;
const TWO_32 = 2 ** 32;
/** sizeof(grant_ref_t): indirect_grefs[] is an array of them. */
const GRANT_REF_BYTES = 4;

/** The per-ABI layouts of every blkif struct. */
export interface BlkifLayouts {
  readonly request: StructLayout;
  readonly discard: StructLayout;
  readonly indirect: StructLayout;
  readonly segment: StructLayout;
  readonly response: StructLayout;
}

export function blkifLayouts(abi: Abi): BlkifLayouts {
  return {
    request: layoutOf(blkif_request, abi),
    discard: layoutOf(blkif_request_discard, abi),
    indirect: layoutOf(blkif_request_indirect, abi),
    segment: layoutOf(blkif_request_segment, abi),
    response: layoutOf(blkif_response, abi),
  };
}

function getU64(view: DataView, offset: number): number {
  return view.getUint32(offset, LE) + view.getUint32(offset + 4, LE) * TWO_32;
}

function setU64(view: DataView, offset: number, value: number): void {
  view.setUint32(offset, value >>> 0, LE);
  view.setUint32(offset + 4, Math.floor(value / TWO_32) >>> 0, LE);
}

export class BlkifCodec implements RingLayout {
  readonly abi: Abi['name'];
  /** The `protocol` value that names this ABI (XEN_IO_PROTO_ABI_*). */
  readonly protocol: string;
  readonly layouts: BlkifLayouts;
  /** sizeof(struct blkif_request) and sizeof(struct blkif_response) for the ring. */
  readonly requestSize: number;
  readonly responseSize: number;
  /** sizeof(struct blkif_request_segment): 8, so 512 fit in an indirect page. */
  readonly segmentSize: number;

  // Offsets pulled out of the layout tables once, so the data path reads plain numbers.
  private readonly rqOperation: number;
  private readonly rqNrSegments: number;
  private readonly rqHandle: number;
  private readonly rqId: number;
  private readonly rqSector: number;
  private readonly rqSeg: number;
  private readonly dsFlag: number;
  private readonly dsHandle: number;
  private readonly dsId: number;
  private readonly dsSector: number;
  private readonly dsNrSectors: number;
  private readonly inOp: number;
  private readonly inNrSegments: number;
  private readonly inId: number;
  private readonly inSector: number;
  private readonly inHandle: number;
  private readonly inGrefs: number;
  private readonly inGrefsCount: number;
  private readonly sgGref: number;
  private readonly sgFirst: number;
  private readonly sgLast: number;
  private readonly rsId: number;
  private readonly rsOperation: number;
  private readonly rsStatus: number;
  /** The response word holding `operation`, the padding byte after it and `status` (both ABIs). */
  private readonly rsOpWord: number;
  /** The byte offset of x86_64's trailing padding word; -1 for x86_32, which has none. */
  private readonly rsPadWord: number;

  constructor(abi: Abi, protocol: string) {
    this.abi = abi.name;
    this.protocol = protocol;
    const l = (this.layouts = blkifLayouts(abi));
    this.requestSize = l.request.size;
    this.responseSize = l.response.size;
    this.segmentSize = l.segment.size;
    assert(l.discard.size <= this.requestSize && l.indirect.size <= this.requestSize, 'every request layout fits the slot');
    assert(this.requestSize <= BLKIF_REQUEST_BYTES_MAX && this.requestSize % 4 === 0, 'request size');
    assert(this.responseSize % 4 === 0, 'response size is whole words');
    this.rqOperation = l.request.offsetOf('operation');
    this.rqNrSegments = l.request.offsetOf('nr_segments');
    this.rqHandle = l.request.offsetOf('handle');
    this.rqId = l.request.offsetOf('id');
    this.rqSector = l.request.offsetOf('sector_number');
    this.rqSeg = l.request.offsetOf('seg');
    this.dsFlag = l.discard.offsetOf('flag');
    this.dsHandle = l.discard.offsetOf('handle');
    this.dsId = l.discard.offsetOf('id');
    this.dsSector = l.discard.offsetOf('sector_number');
    this.dsNrSectors = l.discard.offsetOf('nr_sectors');
    this.inOp = l.indirect.offsetOf('indirect_op');
    this.inNrSegments = l.indirect.offsetOf('nr_segments');
    this.inId = l.indirect.offsetOf('id');
    this.inSector = l.indirect.offsetOf('sector_number');
    this.inHandle = l.indirect.offsetOf('handle');
    this.inGrefs = l.indirect.offsetOf('indirect_grefs');
    this.inGrefsCount = l.indirect.fields.find((f) => f.name === 'indirect_grefs')!.size / GRANT_REF_BYTES;
    this.sgGref = l.segment.offsetOf('gref');
    this.sgFirst = l.segment.offsetOf('first_sect');
    this.sgLast = l.segment.offsetOf('last_sect');
    this.rsId = l.response.offsetOf('id');
    this.rsOperation = l.response.offsetOf('operation');
    this.rsStatus = l.response.offsetOf('status');
    this.rsOpWord = this.rsOperation;
    this.rsPadWord = this.responseSize === this.rsOpWord + 8 ? this.rsOpWord + 4 : -1;
    // writeResponse() stores whole words: id in two, operation | status << 16 in the next, then
    // the padding word if the ABI has one.
    assert(this.rsOperation % 4 === 0 && this.rsStatus === this.rsOperation + 2 && this.rsId + 8 <= this.rsOpWord &&
      (this.rsPadWord >= 0 || this.responseSize === this.rsOpWord + 4), 'response layout in words');
    // The common header every layout shares: the operation byte first, so it can be read
    // before the layout is known.
    assert(this.rqOperation === 0 && l.discard.offsetOf('operation') === 0 && l.indirect.offsetOf('operation') === 0, 'operation at 0');
  }

  /**
   * Copy the request at `offset` out of shared memory into `out`: every field is read from the
   * slot exactly once (the operation byte first, which selects the layout), so `out` is a
   * private copy the frontend can no longer change (XSA-155: validate only the copy). Nothing
   * is validated here; at most 11 direct segments are copied whatever nr_segments says.
   */
  readRequest(src: SlotMemory, offset: number, out: BlkifRequest): void {
    const v = src.view;
    out.operation = v.getUint8(offset + this.rqOperation);
    if (out.operation === BLKIF_OP_DISCARD) this.decodeDiscard(v, offset, out);
    else if (out.operation === BLKIF_OP_INDIRECT) this.decodeIndirect(v, offset, out);
    else this.decodeDirect(v, offset, out);
  }

  private decodeDirect(v: DataView, o: number, out: BlkifRequest): void {
    out.nrSegments = v.getUint8(o + this.rqNrSegments);
    out.handle = v.getUint16(o + this.rqHandle, LE);
    out.idLo = v.getUint32(o + this.rqId, LE);
    out.idHi = v.getUint32(o + this.rqId + 4, LE);
    out.sectorNumber = getU64(v, o + this.rqSector);
    out.nrSectors = 0;
    out.flag = 0;
    out.indirectOp = 0;
    const n = Math.min(out.nrSegments, BLKIF_MAX_SEGMENTS_PER_REQUEST);
    for (let i = 0; i < n; i++) {
      const s = o + this.rqSeg + i * this.segmentSize;
      out.gref[i] = v.getUint32(s + this.sgGref, LE);
      out.firstSect[i] = v.getUint8(s + this.sgFirst);
      out.lastSect[i] = v.getUint8(s + this.sgLast);
    }
    out.segmentCount = n;
  }

  private decodeDiscard(v: DataView, o: number, out: BlkifRequest): void {
    out.flag = v.getUint8(o + this.dsFlag);
    out.handle = v.getUint16(o + this.dsHandle, LE);
    out.idLo = v.getUint32(o + this.dsId, LE);
    out.idHi = v.getUint32(o + this.dsId + 4, LE);
    out.sectorNumber = getU64(v, o + this.dsSector);
    out.nrSectors = getU64(v, o + this.dsNrSectors);
    out.nrSegments = 0;
    out.indirectOp = 0;
    out.segmentCount = 0;
  }

  private decodeIndirect(v: DataView, o: number, out: BlkifRequest): void {
    out.indirectOp = v.getUint8(o + this.inOp);
    out.nrSegments = v.getUint16(o + this.inNrSegments, LE);
    out.idLo = v.getUint32(o + this.inId, LE);
    out.idHi = v.getUint32(o + this.inId + 4, LE);
    out.sectorNumber = getU64(v, o + this.inSector);
    out.handle = v.getUint16(o + this.inHandle, LE);
    for (let i = 0; i < this.inGrefsCount; i++) out.indirectGrefs[i] = v.getUint32(o + this.inGrefs + i * GRANT_REF_BYTES, LE);
    out.nrSectors = 0;
    out.flag = 0;
    // The segments are in the indirect pages; readIndirectSegments() fills them.
    out.segmentCount = 0;
  }

  /**
   * Copy `count` segments from an indirect page (blkif_request_segment[512]) starting at page
   * entry `first`, into out.gref/firstSect/lastSect at index `dst`. Each byte is read once. The
   * caller bounds `dst + count` by out.segmentsMax and `first + count` by 512.
   */
  readIndirectSegments(page: DataView, pageOffset: number, first: number, count: number, out: BlkifRequest, dst: number): void {
    assert(dst + count <= out.segmentsMax, 'indirect segments fit the request');
    for (let i = 0; i < count; i++) {
      const s = pageOffset + (first + i) * this.segmentSize;
      out.gref[dst + i] = page.getUint32(s + this.sgGref, LE);
      out.firstSect[dst + i] = page.getUint8(s + this.sgFirst);
      out.lastSect[dst + i] = page.getUint8(s + this.sgLast);
    }
    out.segmentCount = Math.max(out.segmentCount, dst + count);
  }

  /**
   * Write a response into the slot at `offset`: every byte of it, padding zeroed, so no stale
   * byte of the backend's reaches the frontend.
   */
  writeResponse(dst: SlotMemory, offset: number, idLo: number, idHi: number, operation: number, status: number): void {
    const v = dst.view;
    // Whole words, each stored once, padding included: this runs once per request, and it
    // measured half the cost of zeroing the response and then storing each field.
    v.setUint32(offset + this.rsId, idLo >>> 0, LE);
    v.setUint32(offset + this.rsId + 4, idHi >>> 0, LE);
    v.setUint32(offset + this.rsOpWord, (operation & 0xff) | ((status & 0xffff) << 16), LE);
    if (this.rsPadWord >= 0) v.setUint32(offset + this.rsPadWord, 0, LE);
  }

  /** Frontend side: read a response (each field once) into `out`. */
  readResponse(src: SlotMemory, offset: number, out: BlkifResponse): void {
    const v = src.view;
    out.idLo = v.getUint32(offset + this.rsId, LE);
    out.idHi = v.getUint32(offset + this.rsId + 4, LE);
    out.operation = v.getUint8(offset + this.rsOperation);
    out.status = v.getInt16(offset + this.rsStatus, LE);
  }

  /**
   * Frontend side: write `req` into the slot at `offset` in the layout its operation uses
   * (discard, indirect, or the direct blkif_request), every byte of the slot included.
   */
  writeRequest(dst: SlotMemory, offset: number, req: BlkifRequest): void {
    dst.bytes.fill(0, offset, offset + this.requestSize);
    const v = dst.view;
    v.setUint8(offset, req.operation);
    if (req.operation === BLKIF_OP_DISCARD) {
      v.setUint8(offset + this.dsFlag, req.flag);
      v.setUint16(offset + this.dsHandle, req.handle, LE);
      v.setUint32(offset + this.dsId, req.idLo >>> 0, LE);
      v.setUint32(offset + this.dsId + 4, req.idHi >>> 0, LE);
      setU64(v, offset + this.dsSector, req.sectorNumber);
      setU64(v, offset + this.dsNrSectors, req.nrSectors);
    } else if (req.operation === BLKIF_OP_INDIRECT) {
      v.setUint8(offset + this.inOp, req.indirectOp);
      v.setUint16(offset + this.inNrSegments, req.nrSegments, LE);
      v.setUint32(offset + this.inId, req.idLo >>> 0, LE);
      v.setUint32(offset + this.inId + 4, req.idHi >>> 0, LE);
      setU64(v, offset + this.inSector, req.sectorNumber);
      v.setUint16(offset + this.inHandle, req.handle, LE);
      for (let i = 0; i < this.inGrefsCount; i++) v.setUint32(offset + this.inGrefs + i * GRANT_REF_BYTES, req.indirectGrefs[i]!, LE);
    } else {
      v.setUint8(offset + this.rqNrSegments, req.nrSegments);
      v.setUint16(offset + this.rqHandle, req.handle, LE);
      v.setUint32(offset + this.rqId, req.idLo >>> 0, LE);
      v.setUint32(offset + this.rqId + 4, req.idHi >>> 0, LE);
      setU64(v, offset + this.rqSector, req.sectorNumber);
      const n = Math.min(req.segmentCount, BLKIF_MAX_SEGMENTS_PER_REQUEST);
      for (let i = 0; i < n; i++) {
        const s = offset + this.rqSeg + i * this.segmentSize;
        v.setUint32(s + this.sgGref, req.gref[i]!, LE);
        v.setUint8(s + this.sgFirst, req.firstSect[i]!);
        v.setUint8(s + this.sgLast, req.lastSect[i]!);
      }
    }
  }

  /**
   * Frontend side: write segments [from, from + count) of `req` into an indirect page at entry
   * `first` (8 bytes each, padding zeroed).
   */
  writeIndirectSegments(page: SlotMemory, pageOffset: number, first: number, req: BlkifRequest, from: number, count: number): void {
    const start = pageOffset + first * this.segmentSize;
    page.bytes.fill(0, start, start + count * this.segmentSize);
    for (let i = 0; i < count; i++) {
      const s = start + i * this.segmentSize;
      page.view.setUint32(s + this.sgGref, req.gref[from + i]!, LE);
      page.view.setUint8(s + this.sgFirst, req.firstSect[from + i]!);
      page.view.setUint8(s + this.sgLast, req.lastSect[from + i]!);
    }
  }
}

/** XEN_IO_PROTO_ABI_X86_32 / _X86_64 (xen/io/protocols.h). */
export const XEN_IO_PROTO_ABI_X86_32 = 'x86_32-abi';
export const XEN_IO_PROTO_ABI_X86_64 = 'x86_64-abi';

export const BLKIF_X86_64 = new BlkifCodec(ABI_X86_64, XEN_IO_PROTO_ABI_X86_64);
export const BLKIF_X86_32 = new BlkifCodec(ABI_X86_32, XEN_IO_PROTO_ABI_X86_32);
/** The native ABI of this (x86_64) host. */
export const BLKIF_NATIVE = BLKIF_X86_64;
export const XEN_IO_PROTO_ABI_NATIVE = XEN_IO_PROTO_ABI_X86_64;

/**
 * The codec for a frontend's `protocol` key: absent means x86_32 (Linux blkback's
 * BLKIF_PROTOCOL_DEFAULT on x86); an unknown value gives undefined, which the caller answers
 * with an `error` node and Closing.
 */
export function codecForProtocol(protocolKey: string | undefined): BlkifCodec | undefined {
  if (protocolKey === undefined) return BLKIF_X86_32;
  if (protocolKey === XEN_IO_PROTO_ABI_X86_64) return BLKIF_X86_64;
  if (protocolKey === XEN_IO_PROTO_ABI_X86_32) return BLKIF_X86_32;
  return undefined;
}
