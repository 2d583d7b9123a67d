/**
 * One blkfront queue: a (multi-page) shared ring in guest memory, its grants and its event
 * channel, and the response loop of Linux's blkif_interrupt().
 */
import type { EventChannels, GrantTable, GuestMemory } from '../hypervisor/api.js';
import type { BlkifCodec } from '../blkback/protocol/codec.js';
import { BlkifResponse, type BlkifRequest } from '../blkback/protocol/request.js';
import { PAGE_SIZE } from '../native/api.js';
import { FrontRing } from '../ring/front.js';

/** Responses handled per event before yielding to the event loop (bounded work per wake-up). */
export const RESPONSES_PER_EVENT_MAX = 4096;

export const DRAIN_IDLE = 0;
export const DRAIN_MORE = 1;
export const DRAIN_BROKEN = 2;
export type DrainResult = typeof DRAIN_IDLE | typeof DRAIN_MORE | typeof DRAIN_BROKEN;

export interface QueueStats {
  requests: number;
  responses: number;
  notificationsSent: number;
  events: number;
}

export class BlkfrontQueue {
  readonly ring: FrontRing;
  readonly ringGfn: number;
  readonly ringPages: number;
  readonly ringRefs: number[] = [];
  readonly port: number;
  readonly stats: QueueStats = { requests: 0, responses: 0, notificationsSent: 0, events: 0 };
  /** Requests written but not yet pushed. */
  dirty = false;
  private readonly rsp = new BlkifResponse();

  constructor(
    readonly index: number,
    private readonly codec: BlkifCodec,
    private readonly memory: GuestMemory,
    private readonly grants: GrantTable,
    private readonly evtchns: EventChannels,
    backend: number,
    ringPageOrder: number,
  ) {
    this.ringPages = 1 << ringPageOrder;
    this.ringGfn = memory.allocPages(this.ringPages);
    const offset = this.ringGfn * PAGE_SIZE;
    new Uint8Array(memory.buffer, offset, this.ringPages * PAGE_SIZE).fill(0);
    this.ring = FrontRing.init(memory.buffer, offset, this.ringPages * PAGE_SIZE, codec);
    try {
      for (let i = 0; i < this.ringPages; i++) this.ringRefs.push(grants.grantAccess(backend, this.ringGfn + i, false));
      this.port = evtchns.allocUnbound(backend);
    } catch (error) {
      this.releaseMemory([]);
      throw error;
    }
  }

  /** Write `req` into the next ring slot (the caller checked there is room); push() publishes it. */
  write(req: BlkifRequest): void {
    this.codec.writeRequest(this.ring.sring, this.ring.produceRequest(), req);
    this.stats.requests++;
    this.dirty = true;
  }

  /** RING_PUSH_REQUESTS_AND_CHECK_NOTIFY, and notify when the backend asked for it. */
  push(): void {
    if (!this.dirty) return;
    this.dirty = false;
    if (this.ring.pushRequestsAndCheckNotify()) {
      this.stats.notificationsSent++;
      this.evtchns.notify(this.port);
    }
  }

  /**
   * Consume the responses present, calling `complete(idLo, idHi, status)` for each, then re-arm
   * rsp_event (RING_FINAL_CHECK_FOR_RESPONSES) and go on while more arrived. Returns DRAIN_IDLE,
   * DRAIN_MORE when it stopped at RESPONSES_PER_EVENT_MAX with responses left (call again soon:
   * no event will come for them), or DRAIN_BROKEN when the backend produced an impossible
   * rsp_prod (the ring is then unusable).
   */
  drain(complete: (idLo: number, idHi: number, status: number) => void): DrainResult {
    this.stats.events++;
    const ring = this.ring;
    const first = this.stats.responses;
    for (;;) {
      const rp = ring.responsesProduced();
      if (ring.responseProdOverflow(rp)) return DRAIN_BROKEN;
      while (ring.rspCons !== rp) {
        this.codec.readResponse(ring.sring, ring.responseSlot(ring.rspCons), this.rsp);
        ring.rspCons = (ring.rspCons + 1) >>> 0;
        this.stats.responses++;
        complete(this.rsp.idLo, this.rsp.idHi, this.rsp.status);
      }
      if (ring.rspCons !== ring.reqProdPvt) {
        if (!ring.finalCheckForResponses()) return DRAIN_IDLE;
        if (this.stats.responses - first >= RESPONSES_PER_EVENT_MAX) return DRAIN_MORE;
      } else {
        // Nothing outstanding: ask for an event at the next response (as blkif_interrupt).
        ring.sring.storeRspEvent((ring.rspCons + 1) >>> 0);
        return DRAIN_IDLE;
      }
    }
  }

  listen(handler: () => void): void {
    this.evtchns.onEvent(this.port, handler);
  }

  /**
   * Close the event channel and end the ring grants; refs the backend still maps go to
   * `leaked` and the ring pages are then kept (never reused while the backend may write them).
   */
  destroy(leaked: number[]): void {
    try {
      this.evtchns.close(this.port);
    } catch {
      // Already closed by the domain's teardown.
    }
    this.releaseMemory(leaked);
  }

  private releaseMemory(leaked: number[]): void {
    let held = false;
    for (const ref of this.ringRefs) {
      if (!this.grants.endAccess(ref)) {
        leaked.push(ref);
        held = true;
      }
    }
    this.ringRefs.length = 0;
    if (!held) this.memory.freePages(this.ringGfn, this.ringPages);
  }
}
