/**
 * The shared ring page of xen/io/ring.h (DEFINE_RING_TYPES), generic over the request and
 * response layout.
 *
 * struct __name##_sring {                 offset size
 *     RING_IDX req_prod;                      0     4
 *     RING_IDX req_event;                     4     4
 *     RING_IDX rsp_prod;                      8     4
 *     RING_IDX rsp_event;                    12     4
 *     union { ...; uint8_t pvt_pad[4]; } pvt; 16    4
 *     uint8_t __pad[44];                     20    44
 *     union __name##_sring_entry ring[];     64    nr_ents * max(sizeof req, sizeof rsp)
 * };
 *
 * The ring may span several contiguous pages (a multi-page ring of order 0..4, mapped as one
 * contiguous view, as Linux's xenbus_map_ring_valloc gives the backend). Indices are
 * free-running unsigned 32-bit counters; every difference is taken modulo 2^32 with `>>> 0`.
 *
 * Index words are accessed with Atomics on an Int32Array. JavaScript Atomics are sequentially
 * consistent, so each Atomics.store is at least a release (ring.h's xen_wmb() before a producer
 * update) and each Atomics.load at least an acquire (xen_rmb() after reading a producer index);
 * a store followed by a load of another index word is ordered as with xen_mb(). Slot contents are
 * plain (non-atomic) accesses, ordered by those index operations.
 */
import { assert } from '../util/assert.js';

export const RING_PAGE_BYTES = 4096;
/** ring-page-order goes up to 4 (16 pages), as Linux blkback's xen_blkif_max_ring_order. */
export const RING_ORDER_MAX = 4;

/** Byte offsets of the sring header fields (C names in the comments). */
export const SRING = {
  /** RING_IDX req_prod */
  reqProd: 0,
  /** RING_IDX req_event */
  reqEvent: 4,
  /** RING_IDX rsp_prod */
  rspProd: 8,
  /** RING_IDX rsp_event */
  rspEvent: 12,
  /** union { ... uint8_t pvt_pad[4]; } pvt */
  pvt: 16,
  pvtBytes: 4,
  /** uint8_t __pad[44] */
  pad: 20,
  padBytes: 44,
  /** union __name##_sring_entry ring[] — offsetof(struct __name##_sring, ring) */
  ring: 64,
} as const;

/** Word indexes (in the Int32Array over the header) of the four indices. */
const W_REQ_PROD = SRING.reqProd / 4;
const W_REQ_EVENT = SRING.reqEvent / 4;
const W_RSP_PROD = SRING.rspProd / 4;
const W_RSP_EVENT = SRING.rspEvent / 4;

assert(SRING.pvt + SRING.pvtBytes === SRING.pad && SRING.pad + SRING.padBytes === SRING.ring, 'sring header layout');

/** The sizes a ring needs from a request/response codec (sizeof the C structs). */
export interface RingLayout {
  readonly requestSize: number;
  readonly responseSize: number;
}

/** sizeof(union __name##_sring_entry): the larger of the request and the response. */
export function slotBytes(layout: RingLayout): number {
  return Math.max(layout.requestSize, layout.responseSize);
}

/** __RD32: round a 32-bit unsigned value down to the nearest power of two (0 stays 0). */
export function roundDownPow2(x: number): number {
  assert(Number.isInteger(x) && x >= 0 && x <= 0xffffffff, 'roundDownPow2 takes a u32');
  if (x === 0) return 0;
  return 2 ** (31 - Math.clz32(x));
}

/** __CONST_RING_SIZE: the number of slots in a ring of `bytes` bytes. */
export function ringSlots(layout: RingLayout, bytes: number): number {
  if (bytes <= SRING.ring) return 0;
  return roundDownPow2(Math.floor((bytes - SRING.ring) / slotBytes(layout)));
}

/** The number of slots of a ring of 2^order pages. */
export function ringSlotsForOrder(layout: RingLayout, order: number): number {
  assert(Number.isInteger(order) && order >= 0 && order <= RING_ORDER_MAX, `ring order ${order}`);
  return ringSlots(layout, RING_PAGE_BYTES << order);
}

/** Unsigned 32-bit difference a - b, as ring.h's RING_IDX arithmetic. */
export function idxDiff(a: number, b: number): number {
  return (a - b) >>> 0;
}

/**
 * A view of one shared ring: its header words and its slots. Both FrontRing and BackRing hold
 * one; it owns no private index (those are the front's and back's own).
 */
export class SharedRing {
  readonly buffer: ArrayBuffer;
  /** Byte offset of the sring in `buffer` (page-aligned in practice). */
  readonly byteOffset: number;
  readonly byteLength: number;
  /** RING_SIZE: the slot count, a power of two. */
  readonly size: number;
  readonly slotBytes: number;
  /** Bytes and a DataView over the whole ring, for codecs to read and write slots. */
  readonly bytes: Uint8Array;
  readonly view: DataView;
  private readonly idx: Int32Array;
  private readonly mask: number;

  constructor(buffer: ArrayBuffer, byteOffset: number, byteLength: number, layout: RingLayout) {
    assert(byteOffset % 8 === 0 && byteOffset + byteLength <= buffer.byteLength, 'sring lies inside the buffer');
    this.buffer = buffer;
    this.byteOffset = byteOffset;
    this.byteLength = byteLength;
    this.slotBytes = slotBytes(layout);
    this.size = ringSlots(layout, byteLength);
    assert(this.size > 0, `a ring of ${byteLength} bytes holds no ${this.slotBytes}-byte slot`);
    this.mask = this.size - 1;
    this.bytes = new Uint8Array(buffer, byteOffset, byteLength);
    this.view = new DataView(buffer, byteOffset, byteLength);
    this.idx = new Int32Array(buffer, byteOffset, SRING.ring / 4);
  }

  /** SHARED_RING_INIT: producers 0, events 1, pvt and __pad zeroed. */
  init(): void {
    this.initAt(0);
  }

  /**
   * SHARED_RING_INIT followed by moving both producers and events to start at `start`, so a
   * ring can be attached at any index (tests use this to begin near 2^32).
   */
  initAt(start: number): void {
    this.bytes.fill(0, SRING.pvt, SRING.ring);
    Atomics.store(this.idx, W_REQ_EVENT, (start + 1) | 0);
    Atomics.store(this.idx, W_RSP_EVENT, (start + 1) | 0);
    Atomics.store(this.idx, W_REQ_PROD, start | 0);
    Atomics.store(this.idx, W_RSP_PROD, start | 0);
  }

  /** Byte offset (within `bytes`/`view`) of the slot for free-running index `i`. */
  slotOffset(i: number): number {
    return SRING.ring + (i & this.mask) * this.slotBytes;
  }

  // Index accessors. Each load/store is sequentially consistent; the callers in front.ts and
  // back.ts say which ring.h barrier each one stands for.
  loadReqProd(): number {
    return Atomics.load(this.idx, W_REQ_PROD) >>> 0;
  }
  storeReqProd(v: number): void {
    Atomics.store(this.idx, W_REQ_PROD, v | 0);
  }
  loadReqEvent(): number {
    return Atomics.load(this.idx, W_REQ_EVENT) >>> 0;
  }
  storeReqEvent(v: number): void {
    Atomics.store(this.idx, W_REQ_EVENT, v | 0);
  }
  loadRspProd(): number {
    return Atomics.load(this.idx, W_RSP_PROD) >>> 0;
  }
  storeRspProd(v: number): void {
    Atomics.store(this.idx, W_RSP_PROD, v | 0);
  }
  loadRspEvent(): number {
    return Atomics.load(this.idx, W_RSP_EVENT) >>> 0;
  }
  storeRspEvent(v: number): void {
    Atomics.store(this.idx, W_RSP_EVENT, v | 0);
  }
}
