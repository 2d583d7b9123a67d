/**
 * One blkif ring (one queue of a VBD): its mapped pages, its event channel, and the loop that
 * turns requests into tapdisk requests and completions into responses.
 *
 * Hardening (XSA-155, 216, 229, 332, 349, 350, 365; CVE-2013-2140):
 *  - each request is copied out of the ring once (BlkifCodec.readRequest) and only the copy is
 *    validated and used; an indirect request's segments are copied out of the indirect pages once;
 *  - req_prod - rsp_prod_pvt > ring size halts the ring and reports a fatal error (the device
 *    writes `error` and goes Closing); nothing is consumed past it;
 *  - the work per notification is bounded (requestsPerEventMax), the rest is rescheduled with
 *    setImmediate so other rings and VBDs run in between; notifications that bring nothing are
 *    counted, and bursts of them are counted as event storms;
 *  - every response byte is written (the codec zeroes the padding);
 *  - teardown is idempotent, waits for every in-flight request, and only then unbinds the event
 *    channel and unmaps the grants and the ring.
 */
import type { DomId, EventChannels, EvtchnPort, ForeignMapping, GrantMapper } from '../hypervisor/api.js';
import { BackRing } from '../ring/back.js';
import type { SharedRing } from '../ring/sring.js';
import { SplitblkError } from '../util/errors.js';
import { TdOp, TdStatus, type TdRequest } from '../tapdisk/api.js';
import { DataGrants, type RegionPort } from './data-grants.js';
import { IndirectPages, readIndirectSegments } from './indirect-pages.js';
import type { QueueConfig } from './frontend-config.js';
import { Pending, SegmentTable, Stage } from './pending.js';
import type { BlkifCodec } from './protocol/codec.js';
import {
  BLKIF_MAX_SEGMENTS_PER_REQUEST,
  BLKIF_OP_DISCARD,
  BLKIF_OP_FLUSH_DISKCACHE,
  BLKIF_OP_INDIRECT,
  BLKIF_OP_READ,
  BLKIF_OP_WRITE,
  BLKIF_OP_WRITE_BARRIER,
  BLKIF_RSP_EOPNOTSUPP,
  BLKIF_RSP_ERROR,
  BLKIF_RSP_OKAY,
  BLKIF_SEGMENTS_PER_INDIRECT_FRAME,
} from './protocol/ops.js';
import { BlkifRequest } from './protocol/request.js';
import type { RingCounters } from './stats.js';
import {
  checkOp,
  checkRange,
  checkSegments,
  discardIsSecure,
  responseOp,
  Verdict,
  verdictStatus,
  type VbdCaps,
} from './validate.js';
import { postMicrotask } from '../util/microtask.js';

const PAGE_BYTES = 4096;

/** What a ring needs from the tapdisk VBD behind it. */
export interface DiskPort extends RegionPort {
  queue(req: TdRequest): void;
  /**
   * Optional: like queue(), but the disk may run the request and call its done() before this
   * returns (tapdisk's Vbd.queueNow for memory drivers). The ring pass uses it for new requests,
   * so a synchronous disk answers each one while its state is still hot in the cache.
   */
  queueNow?(req: TdRequest): void;
  /** False while the VBD is paused: the ring stops consuming until onResume fires. */
  readonly accepting: boolean;
  onResume(cb: () => void): () => void;
}

export interface RingQueueOptions {
  /** The frontend's domain. */
  domid: DomId;
  codec: BlkifCodec;
  grants: GrantMapper;
  evtchn: EventChannels;
  disk: DiskPort;
  /** Shared by the VBD's rings; a resize updates `sectors` in place. */
  caps: VbdCaps;
  /** Persistent grants cached by this ring; 0 when not negotiated. */
  persistentGrantsMax: number;
  /** Indirect segment tables (each sized for caps.indirectSegmentsMax), made on demand. */
  indirectTablesMax: number;
  /** Requests taken off the ring per processing pass before yielding to the event loop. */
  requestsPerEventMax: number;
  /** Consecutive notifications without a request that count as one event storm. */
  spuriousStormMin: number;
  counters: RingCounters;
  /** The frontend broke the protocol on this ring; the device fails with this message. */
  onFatal: (message: string) => void;
}

export const RING_ERROR = 'SPLITBLK_ERR_RING';

/**
 * Event-loop turns a ring keeps polling for requests after a pass that found work, before it
 * re-arms req_event and sleeps. A turn with nothing else to do costs a microsecond or two (an
 * epoll_wait with no timeout), so an idle ring spins for some microseconds after its last
 * request and then costs nothing.
 */
const IDLE_POLL_TURNS_MAX = 8;

export class RingQueue {
  readonly size: number;
  private readonly ring: BackRing;
  private readonly pool: Pending[];
  private readonly free: Int32Array;
  private freeCount: number;
  private busy = 0;
  private readonly scratch: BlkifRequest;
  private readonly tables: SegmentTable[] = [];
  private tablesMade = 0;
  private readonly data: DataGrants;
  /** Cached indirect pages, with persistent grants only. */
  private readonly indirectPages: IndirectPages | null;
  private readonly o: RingQueueOptions;
  // What every request uses, loaded once here rather than through `o` on each request.
  private readonly sring: SharedRing;
  private readonly codec: BlkifCodec;
  private readonly caps: VbdCaps;
  private readonly counters: RingCounters;
  private readonly disk: DiskPort;

  private scheduled = false;
  /** A microtask will push (for responses completed outside a processing pass). */
  private pushPosted = false;
  /** Inside process(): the pass pushes what it produced itself, no microtask needed. */
  private inPass = false;
  /** Responses produced since the last push (0: nothing to push). */
  private unpushed = 0;
  /**
   * Push at least every half ring of responses, even inside one pass: the frontend, woken by
   * the first half, refills its slots while we answer the second, as it does at depth when a
   * pass takes half the ring. Between pushes responses are batched, as the C backends do.
   */
  private readonly pushEvery: number;
  private stopped = false;
  private halted = false;
  /** An indirect request copied into `scratch`, waiting for a segment table. */
  private parked: Pending | null = null;
  /** A barrier in progress: later requests wait for it. */
  private barrier: Pending | null = null;
  private spuriousRun = 0;
  /** Turns of the event loop polled since the last pass that found work (pollAgain()). */
  private idlePolls = IDLE_POLL_TURNS_MAX;
  private resumeOff: (() => void) | null = null;
  private drainWaiters: (() => void)[] = [];
  private disconnecting: Promise<void> | null = null;

  private readonly processBound = () => this.guarded();
  private readonly pushBound = () => {
    this.pushPosted = false;
    this.push();
  };
  private readonly doneBound = (req: TdRequest, status: TdStatus) => this.completed(req.tag, status);
  /** Whether submit() starts requests with the disk's queueNow(). */
  private readonly startNow: boolean;

  private constructor(
    o: RingQueueOptions,
    private readonly mapping: ForeignMapping,
    private readonly port: EvtchnPort,
    start: number,
  ) {
    this.o = o;
    this.codec = o.codec;
    this.caps = o.caps;
    this.counters = o.counters;
    this.disk = o.disk;
    this.startNow = o.disk.queueNow !== undefined;
    this.ring = BackRing.attach(mapping.buffer, 0, mapping.pages * PAGE_BYTES, o.codec, start);
    this.sring = this.ring.sring;
    this.size = this.ring.size;
    this.pushEvery = Math.max(1, this.size >>> 1);
    this.pool = [];
    this.free = new Int32Array(this.size);
    for (let i = 0; i < this.size; i++) {
      this.pool.push(new Pending(i, this.doneBound));
      this.free[i] = this.size - 1 - i;
    }
    this.freeCount = this.size;
    this.scratch = new BlkifRequest(Math.max(BLKIF_MAX_SEGMENTS_PER_REQUEST, o.caps.indirectSegmentsMax));
    this.data = new DataGrants(o.domid, o.grants, o.disk, o.persistentGrantsMax, this.scratch.segmentsMax, o.counters);
    // Room for the indirect pages of every request that can hold a segment table at once.
    const indirectPagesMax = Math.min(this.size, o.indirectTablesMax) * Math.ceil(o.caps.indirectSegmentsMax / BLKIF_SEGMENTS_PER_INDIRECT_FRAME);
    this.indirectPages = o.persistentGrantsMax > 0 && indirectPagesMax > 0 ? new IndirectPages(o.domid, o.grants, indirectPagesMax, o.counters) : null;
  }

  /**
   * Map the ring pages (writable), attach at the frontend's current rsp_prod (a fresh ring is at
   * 0; a ring that outlived a backend restart keeps its place), bind the event channel and
   * start serving. Throws SPLITBLK_ERR_RING with nothing left mapped or bound on failure.
   */
  static connect(q: QueueConfig, o: RingQueueOptions): RingQueue {
    let mapping: ForeignMapping;
    try {
      mapping = o.grants.mapGrantRefs(o.domid, Uint32Array.from(q.ringRefs), q.ringRefs.length, true);
    } catch (error) {
      throw new SplitblkError(RING_ERROR, `mapping ring-ref ${q.ringRefs.join(',')}: ${(error as Error).message}`, { domid: o.domid }, { cause: error });
    }
    let port: EvtchnPort;
    let start: number;
    try {
      start = BackRing.init(mapping.buffer, 0, mapping.pages * PAGE_BYTES, o.codec).sring.loadRspProd();
      port = o.evtchn.bindInterdomain(o.domid, q.eventChannel);
    } catch (error) {
      mapping.unmap();
      throw new SplitblkError(RING_ERROR, `binding event-channel ${q.eventChannel}: ${(error as Error).message}`, { domid: o.domid }, { cause: error });
    }
    const rq = new RingQueue(o, mapping, port, start);
    o.evtchn.onEvent(port, () => rq.onEvent());
    o.evtchn.unmask(port);
    rq.guarded();
    return rq;
  }

  get inFlight(): number {
    return this.busy;
  }

  get persistentGrants(): number {
    return this.data.persistentCount;
  }

  get persistent(): boolean {
    return this.data.persistent;
  }

  /** Stop taking requests, wait for those in flight, then unbind and unmap. Idempotent. */
  disconnect(): Promise<void> {
    if (this.disconnecting !== null) return this.disconnecting;
    this.stopped = true;
    if (this.parked !== null) {
      const p = this.parked;
      this.parked = null;
      this.finish(p, BLKIF_RSP_ERROR);
    }
    this.disconnecting = (async () => {
      if (this.busy > 0) await new Promise<void>((resolve) => this.drainWaiters.push(resolve));
      if (this.unpushed > 0) this.push();
      this.resumeOff?.();
      this.resumeOff = null;
      try {
        this.o.evtchn.close(this.port);
      } catch {
        // The frontend's domain may be gone already; the port is then closed with it.
      }
      this.data.clear();
      this.indirectPages?.clear();
      this.mapping.unmap();
    })();
    return this.disconnecting;
  }

  private onEvent(): void {
    const c = this.counters;
    c.notifyIn++;
    if (this.ring.unconsumedRequests() === 0 && this.parked === null && this.barrier === null) {
      c.spuriousEvents++;
      if (++this.spuriousRun === this.o.spuriousStormMin) {
        c.eventStorms++;
        this.spuriousRun = 0;
      }
    } else {
      this.spuriousRun = 0;
    }
    if (!this.scheduled) this.guarded();
  }

  /**
   * process(), with our own bugs contained: an exception halts this ring and fails its device
   * rather than taking down the process and every other VBD with it.
   */
  private guarded(): void {
    try {
      this.process();
    } catch (error) {
      this.scheduled = false;
      if (this.halted) return;
      this.halted = true;
      this.o.onFatal(`internal error, ring halted: ${(error as Error).message}`);
    }
  }

  private schedule(): void {
    if (this.scheduled || this.stopped) return;
    this.scheduled = true;
    setImmediate(this.processBound);
  }

  private blocked(): boolean {
    return this.parked !== null || this.barrier !== null;
  }

  /** One processing pass; whatever it answered is pushed before it returns, however it ends. */
  private process(): void {
    this.inPass = true;
    try {
      this.pass();
    } finally {
      this.inPass = false;
      if (this.unpushed > 0) this.push();
    }
  }

  /** Take up to requestsPerEventMax requests off the ring (do_block_io_op). */
  private pass(): void {
    this.scheduled = false;
    if (this.stopped || this.halted) return;
    if (!this.disk.accepting) {
      this.resumeOff ??= this.disk.onResume(() => {
        this.resumeOff?.();
        this.resumeOff = null;
        this.schedule();
      });
      return;
    }
    if (this.parked !== null && !this.resumeParked()) return;
    const ring = this.ring;
    let handled = 0;
    for (;;) {
      const prod = ring.requestsProduced();
      if (ring.requestProdOverflow(prod)) return this.halt(prod);
      while (ring.reqCons !== prod && !this.blocked() && !ring.requestConsOverflow(ring.reqCons)) {
        if (handled === this.o.requestsPerEventMax) {
          this.counters.reschedules++;
          this.counters.recordBatch(handled);
          this.schedule();
          return;
        }
        const cons = ring.reqCons;
        ring.reqCons = (cons + 1) >>> 0;
        this.handle(cons);
        handled++;
      }
      // Responses this pass produced (a synchronous disk answers inside it) go out before the
      // final check, as with ring.h's RING_PUSH_RESPONSES_AND_CHECK_NOTIFY in a C backend's loop:
      // the frontend can refill the ring while we look for more.
      if (this.unpushed > 0) this.push();
      if (this.blocked() || this.stopped || this.halted) break;
      if (ring.unconsumedRequests() === 0 && this.pollAgain(handled)) break;
      // RING_FINAL_CHECK_FOR_REQUESTS: re-arm req_event, then look once more.
      if (!ring.finalCheckForRequests()) break;
    }
    this.counters.recordBatch(handled);
  }

  /**
   * The ring is empty: look again on a later turn of the event loop, without re-arming req_event,
   * for up to IDLE_POLL_TURNS_MAX turns after a pass that found work. A frontend that is
   * answered refills the ring a few microseconds later; found by a poll, its requests need no
   * notification from it and no wake-up of ours (each costs a system call on either side and a
   * scheduler wake-up, more than the requests themselves at small queue depths). Returns false
   * once the polls are spent: the caller re-arms req_event and the ring sleeps until notified.
   */
  private pollAgain(handled: number): boolean {
    if (handled > 0) this.idlePolls = 0;
    if (this.idlePolls >= IDLE_POLL_TURNS_MAX) return false;
    this.idlePolls++;
    this.schedule();
    return true;
  }

  private halt(prod: number): void {
    this.halted = true;
    const rsp = this.ring.rspProdPvt;
    this.o.onFatal(
      `Frontend provided bogus ring requests (${prod} - ${rsp} = ${(prod - rsp) >>> 0} > ${this.size}). Halting ring processing`,
    );
  }

  /** Copy request `cons` out of the ring once, validate the copy, start it. */
  private handle(cons: number): void {
    const req = this.scratch;
    this.codec.readRequest(this.sring, this.sring.slotOffset(cons), req);
    const p = this.alloc();
    p.idLo = req.idLo;
    p.idHi = req.idHi;
    const op = req.operation;
    const n = req.nrSegments;
    // The common case, a direct READ or WRITE, answered here as checkOp() answers it (a segment
    // count in 1..11, no WRITE to a read-only VBD); everything else goes through checkOp().
    if (n !== 0 && n <= BLKIF_MAX_SEGMENTS_PER_REQUEST) {
      if (op === BLKIF_OP_READ) {
        p.responseOp = op;
        this.counters.rdReq++;
        return this.startData(p, req, n, false);
      }
      if (op === BLKIF_OP_WRITE && !this.caps.readonly) {
        p.responseOp = op;
        this.counters.wrReq++;
        return this.startData(p, req, n, true);
      }
    }
    this.handleOther(p, req);
  }

  /** handle() for every request but a valid direct READ or WRITE. */
  private handleOther(p: Pending, req: BlkifRequest): void {
    p.responseOp = responseOp(req.operation, req.indirectOp);
    const v = checkOp(req.operation, req.indirectOp, req.nrSegments, this.caps);
    if (v !== Verdict.Ok) return this.reject(p, v);
    const c = this.counters;
    switch (req.operation) {
      case BLKIF_OP_READ:
        c.rdReq++;
        return this.startData(p, req, req.nrSegments, false);
      case BLKIF_OP_WRITE:
        c.wrReq++;
        return this.startData(p, req, req.nrSegments, true);
      case BLKIF_OP_WRITE_BARRIER:
      case BLKIF_OP_FLUSH_DISKCACHE:
        c.fReq++;
        return this.startFlush(p, req);
      case BLKIF_OP_DISCARD:
        c.dsReq++;
        return this.startDiscard(p, req);
      case BLKIF_OP_INDIRECT:
        c.indirectReq++;
        if (req.indirectOp === BLKIF_OP_WRITE) c.wrReq++;
        else c.rdReq++;
        return this.startIndirect(p);
      default:
        return this.reject(p, Verdict.UnknownOp);
    }
  }

  private startFlush(p: Pending, req: BlkifRequest): void {
    p.barrier = req.operation === BLKIF_OP_WRITE_BARRIER;
    if (req.nrSegments === 0) {
      const td = p.td;
      td.op = TdOp.Flush;
      td.sector = 0;
      td.sectors = 0;
      td.segments = 0;
      return this.submit(p);
    }
    // With data (Linux blkfront's FUA writes): write it, then flush (completed() chains them).
    p.flushAfter = true;
    this.startData(p, req, req.nrSegments, true);
  }

  private startDiscard(p: Pending, req: BlkifRequest): void {
    const v = checkRange(req.sectorNumber, req.nrSectors, this.caps);
    if (v !== Verdict.Ok) return this.reject(p, v);
    if (req.nrSectors === 0) return this.finish(p, BLKIF_RSP_OKAY);
    const td = p.td;
    td.op = TdOp.Discard;
    td.sector = req.sectorNumber;
    td.sectors = req.nrSectors;
    td.secure = discardIsSecure(req.flag, this.caps);
    td.segments = 0;
    this.counters.dsSect += req.nrSectors;
    this.submit(p);
  }

  /** Take a segment table (or park until one is free), then copy the indirect segments once. */
  private startIndirect(p: Pending): void {
    let table = this.tables.pop();
    if (table === undefined && this.tablesMade < this.o.indirectTablesMax) {
      table = new SegmentTable(this.scratch.segmentsMax);
      this.tablesMade++;
    }
    if (table === undefined) {
      this.counters.ooReq++;
      this.parked = p;
      return;
    }
    p.useTable(table);
    const req = this.scratch;
    const n = req.nrSegments;
    const pages = Math.ceil(n / BLKIF_SEGMENTS_PER_INDIRECT_FRAME);
    if (!readIndirectSegments(req, n, pages, this.o.codec, this.indirectPages, this.o.grants, this.o.domid)) {
      return this.reject(p, Verdict.MapFailed);
    }
    this.startData(p, req, n, req.indirectOp === BLKIF_OP_WRITE);
  }

  /** Resume a parked indirect request once a table is free. Returns false if still parked. */
  private resumeParked(): boolean {
    if (this.tables.length === 0 && this.tablesMade >= this.o.indirectTablesMax) return false;
    const p = this.parked!;
    this.parked = null;
    this.startIndirect(p);
    return this.parked === null;
  }

  /** Segments, range, grants; then submit a READ or WRITE (or the write of a flush with data). */
  private startData(p: Pending, req: BlkifRequest, n: number, write: boolean): void {
    const sectors = checkSegments(req.firstSect, req.lastSect, n);
    if (sectors < 0) return this.reject(p, Verdict.SegmentBounds);
    const v = checkRange(req.sectorNumber, sectors, this.caps);
    if (v !== Verdict.Ok) return this.reject(p, v);
    // A READ fills the guest's pages (writable mapping); a WRITE only reads them.
    if (!this.data.map(req, n, !write, p)) return this.reject(p, Verdict.MapFailed);
    const td = p.td;
    td.op = write ? TdOp.Write : TdOp.Read;
    td.sector = req.sectorNumber;
    td.sectors = sectors;
    td.segments = n;
    if (write) this.counters.wrSect += sectors;
    else this.counters.rdSect += sectors;
    this.submit(p);
  }

  /** Queue to tapdisk, or, for a barrier, wait until everything before it has completed. */
  private submit(p: Pending): void {
    if (p.barrier) {
      this.barrier = p;
      if (this.busy > 1) {
        p.stage = Stage.Draining;
        return;
      }
    }
    p.stage = Stage.Io;
    // May complete at once (a synchronous disk): finish() then runs inside this call, and
    // nothing here or in the callers touches `p` afterwards.
    if (this.startNow) this.disk.queueNow!(p.td);
    else this.disk.queue(p.td);
  }

  private completed(tag: number, status: TdStatus): void {
    const p = this.pool[tag]!;
    if (status === TdStatus.Ok && p.flushAfter && p.stage === Stage.Io) {
      this.data.release(p);
      p.stage = Stage.FlushAfterWrite;
      const td = p.td;
      td.op = TdOp.Flush;
      td.sector = 0;
      td.sectors = 0;
      td.segments = 0;
      this.disk.queue(td);
      return;
    }
    this.finish(p, status === TdStatus.Ok ? BLKIF_RSP_OKAY : status === TdStatus.NotSupported ? BLKIF_RSP_EOPNOTSUPP : BLKIF_RSP_ERROR);
  }

  private reject(p: Pending, v: Verdict): void {
    this.finish(p, verdictStatus(v));
  }

  /** Release what `p` holds, write its response, and let blocked work continue. */
  private finish(p: Pending, status: number): void {
    this.data.release(p);
    const tableFreed = p.table !== p.own;
    if (tableFreed) this.tables.push(p.table);
    this.codec.writeResponse(this.sring, this.ring.produceResponse(), p.idLo, p.idHi, p.responseOp, status);
    if (status === BLKIF_RSP_ERROR) this.counters.errors++;
    else if (status === BLKIF_RSP_EOPNOTSUPP) this.counters.notSupported++;
    const wasBarrier = this.barrier === p;
    p.reset();
    this.free[this.freeCount++] = p.td.tag;
    this.busy--;
    this.responseProduced();
    // Kept apart so that the common case (no barrier, no parked request, nobody draining)
    // stays small enough to be inlined.
    if (this.barrier !== null || tableFreed || this.drainWaiters.length !== 0) this.unblock(wasBarrier, tableFreed);
  }

  /** After a response: start a drained barrier, resume a parked request, wake drain waiters. */
  private unblock(wasBarrier: boolean, tableFreed: boolean): void {
    if (wasBarrier) {
      this.barrier = null;
      this.schedule();
    } else if (this.barrier !== null && this.barrier.stage === Stage.Draining && this.busy === 1) {
      const b = this.barrier;
      b.stage = Stage.Io;
      this.disk.queue(b.td);
    }
    if (tableFreed && this.parked !== null) this.schedule();
    if (this.busy === 0 && this.drainWaiters.length > 0) {
      const waiters = this.drainWaiters;
      this.drainWaiters = [];
      for (const w of waiters) w();
    }
  }

  private alloc(): Pending {
    // In flight <= ring size (a response slot per consumed request), so the pool never runs dry.
    const p = this.pool[this.free[--this.freeCount]!]!;
    this.busy++;
    p.stage = Stage.Io;
    return p;
  }

  /** Count a response: pushed at once every half ring, else at the end of the pass or in a microtask. */
  private responseProduced(): void {
    if (++this.unpushed >= this.pushEvery) {
      this.push();
      return;
    }
    if (this.inPass || this.pushPosted) return;
    this.pushPosted = true;
    // Responses finished in the same tick (one batch of completions) go out with one push.
    postMicrotask(this.pushBound);
  }

  private push(): void {
    if (this.unpushed === 0) return;
    this.unpushed = 0;
    if (this.ring.pushResponsesAndCheckNotify()) {
      this.counters.notifyOut++;
      try {
        this.o.evtchn.notify(this.port);
      } catch {
        // The frontend's domain is gone; its responses have nowhere to go.
      }
    }
  }
}
