/**
 * The front end of a shared ring (ring.h's __name##_front_ring): it produces requests and
 * consumes responses. A blkfront (our simulator, or a guest) initialises the shared page.
 */
import { assert } from '../util/assert.js';
import { idxDiff, SharedRing, type RingLayout } from './sring.js';

export class FrontRing {
  readonly sring: SharedRing;
  /** RING_SIZE(r). */
  readonly size: number;
  /** req_prod_pvt: requests produced but perhaps not yet pushed. */
  reqProdPvt: number;
  /** rsp_cons: the next response to consume. */
  rspCons: number;

  private constructor(sring: SharedRing, start: number) {
    this.sring = sring;
    this.size = sring.size;
    this.reqProdPvt = start >>> 0;
    this.rspCons = start >>> 0;
  }

  /** XEN_FRONT_RING_INIT: SHARED_RING_INIT then FRONT_RING_INIT over `byteLength` bytes. */
  static init(buffer: ArrayBuffer, byteOffset: number, byteLength: number, layout: RingLayout): FrontRing {
    return FrontRing.initAt(buffer, byteOffset, byteLength, layout, 0);
  }

  /** As init(), but with every index starting at `start` (for wrap-around tests). */
  static initAt(buffer: ArrayBuffer, byteOffset: number, byteLength: number, layout: RingLayout, start: number): FrontRing {
    const sring = new SharedRing(buffer, byteOffset, byteLength, layout);
    sring.initAt(start);
    return new FrontRing(sring, start);
  }

  /** FRONT_RING_ATTACH: take over an already initialised ring whose indices are at `start`. */
  static attach(buffer: ArrayBuffer, byteOffset: number, byteLength: number, layout: RingLayout, start: number): FrontRing {
    return new FrontRing(new SharedRing(buffer, byteOffset, byteLength, layout), start);
  }

  /** RING_FREE_REQUESTS. */
  freeRequests(): number {
    return this.size - idxDiff(this.reqProdPvt, this.rspCons);
  }

  /** RING_FULL. */
  full(): boolean {
    return this.freeRequests() === 0;
  }

  /**
   * RING_GET_REQUEST(r, r->req_prod_pvt++): the byte offset (in sring.bytes / sring.view) of the
   * slot for the next request. The caller writes the request there before pushing.
   */
  produceRequest(): number {
    assert(!this.full(), 'produceRequest on a full ring');
    const offset = this.sring.slotOffset(this.reqProdPvt);
    this.reqProdPvt = (this.reqProdPvt + 1) >>> 0;
    return offset;
  }

  /** RING_PUSH_REQUESTS. */
  pushRequests(): void {
    // xen_wmb(): the backend sees the request slots before the new req_prod (a seq-cst store
    // is a release for the plain slot writes before it).
    this.sring.storeReqProd(this.reqProdPvt);
  }

  /** RING_PUSH_REQUESTS_AND_CHECK_NOTIFY: push, and whether the backend asked to be notified. */
  pushRequestsAndCheckNotify(): boolean {
    const oldProd = this.sring.loadReqProd();
    const newProd = this.reqProdPvt;
    // xen_wmb(): the request slots are visible before req_prod moves (release store).
    this.sring.storeReqProd(newProd);
    // xen_mb(): the req_prod store is ordered before the req_event load; both are seq-cst, so
    // the backend either sees our requests or we see its new req_event.
    const event = this.sring.loadReqEvent();
    return idxDiff(newProd, event) < idxDiff(newProd, oldProd);
  }

  /**
   * The backend's rsp_prod. The load is an acquire (xen_rmb() after reading rsp_prod in ring.h's
   * consumers): the response slots up to it are read after it.
   */
  responsesProduced(): number {
    return this.sring.loadRspProd();
  }

  /** RING_HAS_UNCONSUMED_RESPONSES (XEN_RING_NR_UNCONSUMED_RESPONSES): how many. */
  unconsumedResponses(): number {
    return idxDiff(this.responsesProduced(), this.rspCons);
  }

  /** RING_RESPONSE_PROD_OVERFLOW: can there be this many responses? (an ill-behaved backend) */
  responseProdOverflow(prod: number): boolean {
    return idxDiff(prod, this.rspCons) > this.size;
  }

  /** RING_GET_RESPONSE(r, i): the byte offset of response `i`'s slot. */
  responseSlot(i: number): number {
    return this.sring.slotOffset(i);
  }

  /**
   * RING_FINAL_CHECK_FOR_RESPONSES: when nothing is pending, ask for a notification at the next
   * response (rsp_event = rsp_cons + 1) and look once more, closing the race with the backend.
   */
  finalCheckForResponses(): boolean {
    if (this.unconsumedResponses() !== 0) return true;
    this.sring.storeRspEvent((this.rspCons + 1) >>> 0);
    // xen_mb(): the rsp_event store is ordered before the rsp_prod load (both seq-cst), so a
    // response pushed after our check sees the new rsp_event and notifies us.
    return this.unconsumedResponses() !== 0;
  }
}
