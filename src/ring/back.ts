/**
 * The back end of a shared ring (ring.h's __name##_back_ring): it consumes requests and
 * produces responses. It never initialises the shared page (the frontend does), and it treats
 * every index the frontend wrote as untrusted: requestProdOverflow() detects an impossible
 * req_prod, and unconsumedRequests() never reports more than the free response slots.
 */
import { assert } from '../util/assert.js';
import { idxDiff, SharedRing, type RingLayout } from './sring.js';

export class BackRing {
  readonly sring: SharedRing;
  /** RING_SIZE(r). */
  readonly size: number;
  /** rsp_prod_pvt: responses produced but perhaps not yet pushed. */
  rspProdPvt: number;
  /** req_cons: the next request to consume. */
  reqCons: number;

  private constructor(sring: SharedRing, start: number) {
    this.sring = sring;
    this.size = sring.size;
    this.rspProdPvt = start >>> 0;
    this.reqCons = start >>> 0;
  }

  /** BACK_RING_INIT: attach at index 0 (the frontend has run SHARED_RING_INIT). */
  static init(buffer: ArrayBuffer, byteOffset: number, byteLength: number, layout: RingLayout): BackRing {
    return BackRing.attach(buffer, byteOffset, byteLength, layout, 0);
  }

  /** BACK_RING_ATTACH: attach to a ring whose indices are at `start`. */
  static attach(buffer: ArrayBuffer, byteOffset: number, byteLength: number, layout: RingLayout, start: number): BackRing {
    return new BackRing(new SharedRing(buffer, byteOffset, byteLength, layout), start);
  }

  /**
   * The frontend's req_prod. The load is an acquire (the xen_rmb() after reading req_prod in
   * Linux's blkback): request slots up to it are read after it.
   */
  requestsProduced(): number {
    return this.sring.loadReqProd();
  }

  /** XEN_RING_NR_UNCONSUMED_REQUESTS: min(requests produced, response slots free). */
  unconsumedRequests(): number {
    const req = idxDiff(this.requestsProduced(), this.reqCons);
    const rsp = this.size - idxDiff(this.reqCons, this.rspProdPvt);
    return req < rsp ? req : rsp;
  }

  /** RING_REQUEST_CONS_OVERFLOW: would consuming request `cons` overflow the ring? */
  requestConsOverflow(cons: number): boolean {
    return idxDiff(cons, this.rspProdPvt) >= this.size;
  }

  /** RING_REQUEST_PROD_OVERFLOW: can there be this many requests? (an ill-behaved frontend) */
  requestProdOverflow(prod: number): boolean {
    return idxDiff(prod, this.rspProdPvt) > this.size;
  }

  /** RING_GET_REQUEST(r, i): the byte offset of request `i`'s slot. Copy it out once. */
  requestSlot(i: number): number {
    return this.sring.slotOffset(i);
  }

  /**
   * RING_GET_RESPONSE(r, r->rsp_prod_pvt++): the byte offset of the slot for the next response.
   * The caller writes every byte of it before pushing.
   */
  produceResponse(): number {
    assert(idxDiff(this.reqCons, this.rspProdPvt) !== 0, 'a response needs a consumed request');
    const offset = this.sring.slotOffset(this.rspProdPvt);
    this.rspProdPvt = (this.rspProdPvt + 1) >>> 0;
    return offset;
  }

  /** RING_PUSH_RESPONSES. */
  pushResponses(): void {
    // xen_wmb(): the frontend sees the response slots before the new rsp_prod (release store).
    this.sring.storeRspProd(this.rspProdPvt);
  }

  /** RING_PUSH_RESPONSES_AND_CHECK_NOTIFY: push, and whether the frontend asked to be notified. */
  pushResponsesAndCheckNotify(): boolean {
    const oldProd = this.sring.loadRspProd();
    const newProd = this.rspProdPvt;
    // xen_wmb(): the response slots are visible before rsp_prod moves (release store).
    this.sring.storeRspProd(newProd);
    // xen_mb(): the rsp_prod store is ordered before the rsp_event load; both are seq-cst, so
    // the frontend either sees our responses or we see its new rsp_event.
    const event = this.sring.loadRspEvent();
    return idxDiff(newProd, event) < idxDiff(newProd, oldProd);
  }

  /**
   * RING_FINAL_CHECK_FOR_REQUESTS: when nothing is pending, ask for a notification at the next
   * request (req_event = req_cons + 1) and look once more, closing the race with the frontend.
   */
  finalCheckForRequests(): boolean {
    if (this.unconsumedRequests() !== 0) return true;
    this.sring.storeReqEvent((this.reqCons + 1) >>> 0);
    // xen_mb(): the req_event store is ordered before the req_prod load (both seq-cst), so a
    // request pushed after our check sees the new req_event and notifies us.
    return this.unconsumedRequests() !== 0;
  }
}
