import { TdOp, TdStatus, type CopyCounter, type ImageDriver, type ImageInfo, type TdRequest } from './api.js';
import { assert } from '../util/assert.js';
import { SplitblkError } from '../util/errors.js';
import type { Clock, Ticker } from './clock.js';
import { conflicts } from './deps.js';
import { ERR_SIZE_CHANGED, ERR_VBD_STATE } from './errors.js';
import { coalesce, MergePlan, planMerges, type MergeLimits } from './merge.js';
import type { Dispatchable, Scheduler } from './scheduler.js';
import { carry, Slot, SlotState } from './slot.js';
import { snapshot, VbdCounters, type RingCounterReport, type VbdStats } from './stats.js';
import { postMicrotask } from '../util/microtask.js';

const EIO = 5;

/** Whether `op` is one of the four request types (blkback passes only those; be safe anyway). */
const knownOp = (op: number): boolean => op >= TdOp.Read && op <= TdOp.Discard;
const ETIMEDOUT = 110;

export type VbdState = 'running' | 'pausing' | 'paused' | 'closed';

export interface VbdLimits extends MergeLimits {
  /** Operations in flight at the driver at once. */
  depthMax: number;
  /** Requests queued (waiting and in flight); blkback's request pool must not exceed it. */
  queueMax: number;
  /** Queued requests the dispatcher looks at past the oldest one (dependency window). */
  windowMax: number;
  /** A request the driver has not completed after this long completes with EIO. */
  timeoutMs: number;
}

export const defaultVbdLimits: VbdLimits = {
  depthMax: 64,
  queueMax: 4096,
  windowMax: 64,
  timeoutMs: 30_000,
  segmentsMax: 256,
  bytesMax: 1024 * 1024,
  membersMax: 32,
};

export interface VbdConfig {
  minor: number;
  domid: number | null;
  device: number | null;
  spec: string;
  readonly: boolean;
  driver: ImageDriver;
  /** Opens a spec for unpause (the registry, bound to this VBD's environment). */
  open: (spec: string) => Promise<ImageDriver>;
  scheduler: Scheduler;
  clock: Clock;
  limits: VbdLimits;
  copies: CopyCounter;
  /** Called after every state or image change (the data-path registry listens). */
  onChange?: (vbd: Vbd) => void;
}

/**
 * A virtual block device: an open image chain plus the queue in front of it. blkback calls
 * queue(); the scheduler calls dispatch(), which applies the ordering rules (deps.ts), merges
 * what it can (merge.ts) and hands operations to the driver; completions are split back to the
 * requests. Nothing here allocates per request: slots, the pending ring and the merge plan are
 * sized at open.
 */
export class Vbd implements Dispatchable {
  readonly minor: number;
  readonly domid: number | null;
  readonly device: number | null;
  readonly readonly: boolean;
  scheduled = false;

  private specText: string;
  private stateValue: VbdState = 'running';
  private driver: ImageDriver | null;
  private infoValue: ImageInfo;
  private readonly cfg: VbdConfig;
  private readonly limits: VbdLimits;
  private readonly counters = new VbdCounters();
  private readonly resumeCallbacks: (() => void)[] = [];

  // Pending requests: a ring of absolute positions [head, tail); entries taken out of order
  // become null holes that head skips.
  private readonly pend: (TdRequest | null)[];
  private readonly pendStartMs: Float64Array;
  private head = 0;
  private tail = 0;
  private pendingCount = 0;
  /** Queued requests that are not reads, and operations at the driver that are not reads: while
   *  both are 0 a read can never be blocked, which spares the dependency scan. */
  private pendingNonReads = 0;
  private busyNonReads = 0;
  /** While pausing, only requests queued before this position are drained. */
  private drainTail = 0;
  /** The queue time shared by the requests of one burst (negative: none yet). A clock read
   *  costs about as much as the rest of queue(), and a ring's batch arrives in one synchronous
   *  run; the next dispatch, which the scheduler runs right after, ends the burst. */
  private burstStartMs = -1;
  /** The time of the current dispatch (negative outside dispatch()). A driver that completes
   *  synchronously (null:, ram:) completes inside dispatch, and a clock read per completion
   *  would cost as much as the rest of the request; its operations started at this time too. */
  private dispatchNowMs = -1;
  /** Inside dispatch(): queueNow() must not run a request ahead of a batch being handed over. */
  private dispatching = false;
  /** The time of the current run of asynchronous completions (negative: none under way). An
   *  asynchronous driver delivers its completions in batches, one synchronous run each (an
   *  io_uring harvest hands over every operation that finished), and they finished together
   *  before the run began, so one clock read serves them all (a read per completion, ≈ 60 ns,
   *  was 3 % of a cached 4 KiB read's CPU). A microtask posted by the run's first read ends the run. */
  private completionNowMs = -1;
  private readonly endCompletionRunBound = () => {
    this.completionNowMs = -1;
  };
  /** queueNow()'s carrier: the driver gets it with the fields of the request it runs. */
  private readonly nowReq: TdRequest;
  /** The request riding on the carrier while the driver runs it (null: the carrier is free). */
  private nowOf: TdRequest | null = null;
  /** The slot of a carried request the driver kept (keptNow()); -1 when none. */
  private nowSlot = -1;

  private readonly slots: Slot[];
  private readonly freeSlots: Int32Array;
  private freeCount: number;
  private busyRequests = 0;
  private readonly batch: TdRequest[];
  private readonly batchStartMs: Float64Array;
  private readonly plan: MergePlan;
  private drainWaiters: (() => void)[] = [];
  private pausing: Promise<void> | null = null;
  private unpausing = false;
  private ringStats: (() => RingCounterReport) | null = null;
  /** The timeout sweep; referenced (keeps the process alive) while requests are in flight, so a
   *  driver that never answers still gets its requests failed, and unreferenced by the first
   *  sweep that finds the VBD idle. */
  private readonly sweeper: Ticker;
  private sweeperRefd = false;

  constructor(cfg: VbdConfig) {
    this.cfg = cfg;
    this.limits = cfg.limits;
    this.minor = cfg.minor;
    this.domid = cfg.domid;
    this.device = cfg.device;
    this.readonly = cfg.readonly;
    this.specText = cfg.spec;
    this.driver = cfg.driver;
    this.infoValue = cfg.driver.info;
    const { depthMax, queueMax, windowMax } = cfg.limits;
    this.pend = new Array<TdRequest | null>(queueMax).fill(null);
    this.pendStartMs = new Float64Array(queueMax);
    this.slots = [];
    this.freeSlots = new Int32Array(depthMax);
    for (let i = 0; i < depthMax; i++) {
      this.slots.push(new Slot(i, cfg.limits, (req, status, errno) => this.slotDone(req.tag, status, errno)));
      this.freeSlots[i] = depthMax - 1 - i;
    }
    this.freeCount = depthMax;
    this.nowReq = {
      op: TdOp.Read, sector: 0, sectors: 0, secure: false, segments: 0,
      segRegion: new Uint32Array(0), segOffset: new Uint32Array(0), segLength: new Uint32Array(0),
      done: (_req, status, errno) => this.nowDone(status, errno), tag: -1,
    };
    this.batch = new Array<TdRequest>(windowMax);
    this.batchStartMs = new Float64Array(windowMax);
    this.plan = new MergePlan(windowMax);
    // At most a second, so an idle VBD stops holding the process alive soon after its last I/O.
    const sweepMs = Math.min(1000, Math.max(5, Math.floor(cfg.limits.timeoutMs / 4)));
    this.sweeper = cfg.clock.every(sweepMs, () => this.sweep());
  }

  /** Size, sector size and chain of the open image (of the last one while paused). */
  get info(): ImageInfo {
    return this.infoValue;
  }

  get spec(): string {
    return this.specText;
  }

  get state(): VbdState {
    return this.stateValue;
  }

  /** Whether blkback should take new requests off the rings. False while pausing/paused/closed. */
  get accepting(): boolean {
    return this.stateValue === 'running';
  }

  /** Run `cb` each time the VBD resumes after a pause (blkback then consumes its rings again). */
  onResume(cb: () => void): () => void {
    this.resumeCallbacks.push(cb);
    return () => {
      const i = this.resumeCallbacks.indexOf(cb);
      if (i >= 0) this.resumeCallbacks.splice(i, 1);
    };
  }

  /**
   * Queue a request. Never calls `req.done` synchronously; a bad request (out of range, write
   * to a read-only VBD, anything while closed) completes with an error from the dispatcher.
   * Requests queued while paused wait for unpause.
   */
  queue(req: TdRequest): void {
    assert(this.tail - this.head < this.limits.queueMax, 'VBD queue overflow: the request pool exceeds queueMax');
    const i = this.tail % this.limits.queueMax;
    this.pend[i] = req;
    if (this.burstStartMs < 0) this.burstStartMs = this.cfg.clock.now();
    this.pendStartMs[i] = this.burstStartMs;
    this.tail++;
    this.pendingCount++;
    if (req.op !== TdOp.Read) this.pendingNonReads++;
    this.cfg.scheduler.wake(this);
  }

  hasWork(): boolean {
    return this.pendingCount > 0;
  }

  /** For the scheduler: move up to `max` requests from the queue to the driver. */
  dispatch(max: number): number {
    this.burstStartMs = -1;
    this.dispatching = true;
    try {
      return this.dispatchQueued(max);
    } finally {
      this.dispatching = false;
      this.dispatchNowMs = -1;
    }
  }

  /**
   * queue(), for a caller that takes the completion inside the call (blkback's ring pass): when
   * the driver is synchronous (null:, ram:), the VBD running, nothing queued, nothing at the
   * driver and no dispatch under way, the request runs at once and `req.done` is called before
   * this returns. Nothing can overlap it - the VBD is idle - so the ordering rules hold as they
   * do for queued requests; anything else is queued as by queue(). Such a request spends no time
   * queued and completes within the call, so its latency is recorded as 0 (the first histogram
   * bucket, under 2 us) without a clock read per request.
   *
   * It rides on the VBD's one carrier request rather than on a slot: a completion inside the call
   * needs none of a slot's bookkeeping (members, start times, the timeout sweep), and this runs
   * once per request at the full rate of a ring.
   */
  queueNow(req: TdRequest): void {
    const driver = this.driver;
    if (driver === null || driver.synchronous !== true || this.pendingCount !== 0 || this.dispatching ||
        this.freeCount !== this.limits.depthMax || this.nowOf !== null || this.nowSlot >= 0 || this.stateValue !== 'running') {
      this.queue(req);
      return;
    }
    if (!this.valid(req)) return;
    const c = this.nowReq;
    carry(c, req);
    this.nowOf = req;
    this.busyRequests++;
    try {
      driver.queue(c);
    } finally {
      // Kept, or lost to a driver that threw: either way the timeout sweep now answers for it.
      if (this.nowOf !== null) this.keptNow(req);
    }
  }

  /** The carrier's completion: inside queueNow() (the usual case), or late, after keptNow(). */
  private nowDone(status: TdStatus, errno: number): void {
    if (this.nowSlot >= 0) {
      const index = this.nowSlot;
      this.nowSlot = -1;
      this.slotDone(index, status, errno);
      return;
    }
    const m = this.nowOf;
    assert(m !== null, 'driver completed an operation twice');
    this.nowOf = null;
    this.busyRequests--;
    const ok = status === TdStatus.Ok;
    this.counters.recordNow(m.op, m.sectors, ok);
    m.done(m, status, ok ? 0 : errno || EIO);
    this.checkDrained();
  }

  /**
   * The driver kept the carrier after all: from now on the request is an operation in flight
   * like any other, on a slot, timed from here and covered by the timeout sweep. The carrier's
   * late completion completes the slot; until then queueNow() queues everything.
   */
  private keptNow(req: TdRequest): void {
    this.nowOf = null;
    const index = this.freeSlots[--this.freeCount]!;
    const slot = this.slots[index]!;
    // The slot's own request is what the ordering checks (blocked()) compare against.
    slot.req.op = req.op;
    slot.req.sector = req.sector;
    slot.req.sectors = req.sectors;
    slot.members[0] = req;
    const now = this.cfg.clock.now();
    slot.memberStartMs[0] = now;
    slot.count = 1;
    slot.state = SlotState.Busy;
    slot.startMs = now;
    if (req.op !== TdOp.Read) this.busyNonReads++;
    this.nowSlot = index;
    this.armSweeper();
  }

  private dispatchQueued(max: number): number {
    if (this.stateValue === 'closed') return this.failPending(max);
    if (this.stateValue === 'paused' || this.driver === null) return 0;
    const end = this.stateValue === 'pausing' ? this.drainTail : this.tail;
    if (this.driver.synchronous === true && this.freeCount === this.limits.depthMax) return this.dispatchInline(max, end);
    let taken = 0;
    let batched = 0;
    let batchedNonReads = 0;
    const scanEnd = Math.min(end, this.head + this.limits.windowMax);
    for (let pos = this.head; pos < scanEnd && taken < max && batched < this.freeCount; pos++) {
      const i = pos % this.limits.queueMax;
      const req = this.pend[i];
      if (req === null || req === undefined) continue;
      if (this.blocked(req, pos, batched, batchedNonReads)) continue;
      this.pend[i] = null;
      this.pendingCount--;
      taken++;
      if (req.op !== TdOp.Read) this.pendingNonReads--;
      if (!this.valid(req)) continue;
      if (req.op !== TdOp.Read) batchedNonReads++;
      this.batchStartMs[batched] = this.pendStartMs[i]!;
      this.batch[batched++] = req;
    }
    this.advanceHead();
    // Counted before any is handed over: a driver that completes at once must not make the
    // VBD look drained while the rest of the batch is still to go.
    if (batched > 0) {
      this.armSweeper();
      this.busyRequests += batched;
      this.submitBatch(batched);
    }
    this.checkDrained();
    return taken;
  }

  /**
   * dispatchQueued() for a synchronous driver with nothing at it: the requests go one at a time,
   * in queue order, each completed by the driver before the next is handed over. So every
   * request finds all earlier ones finished - a stricter order than the dependency rules ask -
   * and there is nothing to merge, scan or plan. Should the driver keep an operation after all,
   * the pass stops there and the general path, with its rules, takes the rest.
   */
  private dispatchInline(max: number, end: number): number {
    const queueMax = this.limits.queueMax;
    let taken = 0;
    let now = -1;
    while (this.head < end && taken < max) {
      const i = this.head % queueMax;
      const req = this.pend[i];
      this.head++;
      if (req === null || req === undefined) continue;
      this.pend[i] = null;
      this.pendingCount--;
      taken++;
      if (req.op !== TdOp.Read) this.pendingNonReads--;
      if (!this.valid(req)) continue;
      if (now < 0) {
        // One clock read per pass, as in submitBatch(): what the driver completes here completes now.
        now = this.cfg.clock.now();
        this.dispatchNowMs = now;
        this.armSweeper();
      }
      this.busyRequests++;
      const slot = this.slots[this.freeSlots[--this.freeCount]!]!;
      this.startLone(slot, req, this.pendStartMs[i]!, now);
      if (this.freeCount !== this.limits.depthMax) break;
    }
    this.advanceHead();
    this.checkDrained();
    return taken;
  }

  /** Put `req` alone on `slot` (its own segment arrays, nothing copied) and queue it. */
  private startLone(slot: Slot, only: TdRequest, queuedMs: number, now: number): void {
    const req = slot.req;
    carry(req, only);
    slot.members[0] = only;
    slot.memberStartMs[0] = queuedMs;
    slot.count = 1;
    slot.state = SlotState.Busy;
    if (req.op !== TdOp.Read) this.busyNonReads++;
    slot.startMs = now;
    this.driver!.queue(req);
  }

  /** Whether `req`, queued at `pos`, must wait for an earlier request. */
  private blocked(req: TdRequest, pos: number, batched: number, batchedNonReads: number): boolean {
    if (req.op === TdOp.Read && this.pendingNonReads === 0 && batchedNonReads === 0 && this.busyNonReads === 0) return false;
    for (let p = this.head; p < pos; p++) {
      const e = this.pend[p % this.limits.queueMax];
      if (e && conflicts(e.op, e.sector, e.sectors, req.op, req.sector, req.sectors)) return true;
    }
    for (let b = 0; b < batched; b++) {
      const e = this.batch[b]!;
      if (conflicts(e.op, e.sector, e.sectors, req.op, req.sector, req.sectors)) return true;
    }
    for (const slot of this.slots) {
      // An abandoned (timed-out) operation no longer orders anything: its requests already
      // failed with EIO, so the guest cannot rely on what it did.
      if (slot.state !== SlotState.Busy) continue;
      const e = slot.req;
      if (conflicts(e.op, e.sector, e.sectors, req.op, req.sector, req.sectors)) return true;
    }
    return false;
  }

  /** Check a request against the image; answer it here if it is bad. */
  private valid(req: TdRequest): boolean {
    const info = this.infoValue;
    let status = TdStatus.Ok;
    if (!knownOp(req.op)) status = TdStatus.NotSupported;
    else if (req.op === TdOp.Discard && !info.discard) status = TdStatus.NotSupported;
    else if ((req.op === TdOp.Write || req.op === TdOp.Discard) && (this.readonly || info.readonly)) status = TdStatus.Error;
    else if (req.op !== TdOp.Flush && !(req.sectors > 0 && req.sector >= 0 && req.sector + req.sectors <= info.sectors)) status = TdStatus.Error;
    if (status === TdStatus.Ok) return true;
    if (knownOp(req.op)) this.counters.record(req.op, req.sectors, false, 0);
    req.done(req, status, EIO);
    return false;
  }

  private submitBatch(batched: number): void {
    planMerges(this.batch, batched, this.limits, this.plan);
    // One clock read for the whole batch: its operations start together, and those the driver
    // completes synchronously complete at the same time as far as the counters can tell.
    const now = this.cfg.clock.now();
    this.dispatchNowMs = now;
    for (let g = 0; g < this.plan.groups; g++) {
      const slotIndex = this.freeSlots[--this.freeCount]!;
      const slot = this.slots[slotIndex]!;
      assert(slot.state === SlotState.Free, 'allocated a busy slot');
      const from = this.plan.groupStart[g]!;
      const count = this.plan.members(g);
      if (count === 1) {
        const b = this.plan.order[from]!;
        this.startLone(slot, this.batch[b]!, this.batchStartMs[b]!, now);
        continue;
      }
      const req = slot.req;
      req.segRegion = slot.mergedRegion;
      req.segOffset = slot.mergedOffset;
      req.segLength = slot.mergedLength;
      coalesce(this.batch, this.plan, g, req);
      this.counters.merges += count - 1;
      for (let k = 0; k < count; k++) {
        const b = this.plan.order[from + k]!;
        slot.members[k] = this.batch[b]!;
        slot.memberStartMs[k] = this.batchStartMs[b]!;
      }
      slot.count = count;
      slot.state = SlotState.Busy;
      if (req.op !== TdOp.Read) this.busyNonReads++;
      slot.startMs = now;
      this.driver!.queue(req);
    }
    // Drop the references (a plain loop: Array.prototype.fill is a runtime call).
    for (let b = 0; b < batched; b++) this.batch[b] = undefined as unknown as TdRequest;
  }

  private slotDone(index: number, status: TdStatus, errno: number): void {
    const slot = this.slots[index]!;
    if (slot.state === SlotState.Abandoned) {
      // The late completion of a timed-out operation: its requests were already answered.
      this.releaseSlot(slot, index);
      return;
    }
    assert(slot.state === SlotState.Busy, 'driver completed an operation twice');
    if (slot.req.op !== TdOp.Read) this.busyNonReads--;
    this.completeMembers(slot, status, errno);
    this.releaseSlot(slot, index);
  }

  private completeMembers(slot: Slot, status: TdStatus, errno: number): void {
    const now = this.dispatchNowMs >= 0 ? this.dispatchNowMs : this.completionNow();
    const count = slot.count;
    slot.count = 0;
    this.busyRequests -= count;
    for (let k = 0; k < count; k++) {
      const m = slot.members[k]!;
      slot.members[k] = null;
      this.counters.record(m.op, m.sectors, status === TdStatus.Ok, now - slot.memberStartMs[k]!);
      m.done(m, status, status === TdStatus.Ok ? 0 : errno || EIO);
    }
  }

  /** The time the current run of completions is recorded at; read once per run. */
  private completionNow(): number {
    if (this.completionNowMs < 0) {
      this.completionNowMs = this.cfg.clock.now();
      postMicrotask(this.endCompletionRunBound);
    }
    return this.completionNowMs;
  }

  private releaseSlot(slot: Slot, index: number): void {
    slot.state = SlotState.Free;
    slot.req.segRegion = slot.mergedRegion;
    slot.req.segOffset = slot.mergedOffset;
    slot.req.segLength = slot.mergedLength;
    this.freeSlots[this.freeCount++] = index;
    if (this.pendingCount > 0) this.cfg.scheduler.wake(this);
    // The test checkDrained() starts with, here where it runs once per operation: V8 does not
    // inline the call, and it almost never has waiters.
    if (this.drainWaiters.length !== 0) this.checkDrained();
  }

  /** Keep the timeout sweep running while operations are in flight (the sweep unrefs when idle). */
  private armSweeper(): void {
    if (this.sweeperRefd) return;
    this.sweeper.ref();
    this.sweeperRefd = true;
  }

  /** Time out operations the driver has held too long: their requests complete with EIO. */
  private sweep(): void {
    // Timer ref/unref is not free, so the data path only refs; the sweep unrefs when idle.
    if (this.busyRequests === 0 && this.sweeperRefd) {
      this.sweeper.unref();
      this.sweeperRefd = false;
    }
    const now = this.cfg.clock.now();
    for (const slot of this.slots) {
      if (slot.state !== SlotState.Busy || now - slot.startMs < this.limits.timeoutMs) continue;
      slot.state = SlotState.Abandoned;
      if (slot.req.op !== TdOp.Read) this.busyNonReads--;
      this.counters.timeouts += slot.count;
      this.completeMembers(slot, TdStatus.Error, ETIMEDOUT);
    }
    // Requests blocked behind an abandoned operation may go now.
    if (this.pendingCount > 0) this.cfg.scheduler.wake(this);
    this.checkDrained();
  }

  private advanceHead(): void {
    while (this.head < this.tail && this.pend[this.head % this.limits.queueMax] === null) this.head++;
  }

  private failPending(max: number): number {
    let n = 0;
    for (let pos = this.head; pos < this.tail && n < max; pos++) {
      const i = pos % this.limits.queueMax;
      const req = this.pend[i];
      if (!req) continue;
      this.pend[i] = null;
      this.pendingCount--;
      if (req.op !== TdOp.Read) this.pendingNonReads--;
      n++;
      if (knownOp(req.op)) this.counters.record(req.op, req.sectors, false, 0);
      req.done(req, TdStatus.Error, EIO);
    }
    this.advanceHead();
    return n;
  }

  private drained(): boolean {
    const waiting = this.stateValue === 'pausing' ? this.head < this.drainTail : this.pendingCount > 0;
    return !waiting && this.busyRequests === 0;
  }

  private checkDrained(): void {
    if (this.drainWaiters.length === 0 || !this.drained()) return;
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of waiters) w();
  }

  private waitDrained(): Promise<void> {
    if (this.drained()) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  /**
   * Stop taking requests (accepting becomes false), finish every request queued before the
   * call, then close the image. Requests queued meanwhile wait for unpause.
   */
  pause(): Promise<void> {
    if (this.pausing) return this.pausing;
    if (this.stateValue === 'paused') return Promise.resolve();
    if (this.stateValue !== 'running') {
      return Promise.reject(new SplitblkError(ERR_VBD_STATE, `VBD ${this.minor} is ${this.stateValue}, cannot pause`, { minor: this.minor }));
    }
    this.pausing = this.doPause().finally(() => { this.pausing = null; });
    return this.pausing;
  }

  private async doPause(): Promise<void> {
    if (this.stateValue !== 'running') {
      throw new SplitblkError(ERR_VBD_STATE, `VBD ${this.minor} is ${this.stateValue}, cannot pause`, { minor: this.minor });
    }
    this.stateValue = 'pausing';
    this.drainTail = this.tail;
    this.cfg.onChange?.(this);
    this.cfg.scheduler.wake(this);
    await this.waitDrained();
    const driver = this.driver!;
    this.driver = null;
    try {
      await driver.close();
    } finally {
      // Nothing is in flight any more, so the VBD is paused even if the image closed badly.
      this.stateValue = 'paused';
      this.cfg.onChange?.(this);
    }
  }

  /**
   * Reopen the image - the same spec, or `spec` (a new leaf after a snapshot, a parent after a
   * coalesce) - and resume. Refuses an image of another size or sector size with
   * SPLITBLK_ERR_SIZE_CHANGED and stays paused.
   */
  async unpause(spec?: string): Promise<void> {
    if (this.stateValue !== 'paused' || this.unpausing) {
      const what = this.unpausing ? 'already unpausing' : `${this.stateValue}, not paused`;
      throw new SplitblkError(ERR_VBD_STATE, `VBD ${this.minor} is ${what}`, { minor: this.minor });
    }
    this.unpausing = true;
    try {
      await this.reopen(spec ?? this.specText);
    } finally {
      this.unpausing = false;
    }
    this.cfg.onChange?.(this);
    this.cfg.scheduler.wake(this);
    for (const cb of this.resumeCallbacks.slice()) cb();
  }

  private async reopen(text: string): Promise<void> {
    const driver = await this.cfg.open(text);
    const was = this.infoValue;
    const now = driver.info;
    if (now.sectors !== was.sectors || now.sectorSize !== was.sectorSize) {
      await driver.close();
      throw new SplitblkError(ERR_SIZE_CHANGED,
        `${text} has ${now.sectors} sectors of ${now.sectorSize} bytes; the paused VBD ${this.minor} has ` +
        `${was.sectors} of ${was.sectorSize}`, { minor: this.minor, spec: text });
    }
    this.driver = driver;
    this.infoValue = now;
    this.specText = text;
    this.stateValue = 'running';
  }

  /**
   * Finish what was queued, close the image and answer anything queued later with EIO.
   * Idempotent.
   */
  async close(): Promise<void> {
    if (this.stateValue === 'closed') return;
    if (this.stateValue === 'pausing' || this.stateValue === 'running') await this.pause();
    this.stateValue = 'closed';
    this.sweeper.cancel();
    this.cfg.scheduler.wake(this);
    this.cfg.onChange?.(this);
  }

  /**
   * Let the layer that feeds this VBD (blkback) add its counters to stats(), and so to the
   * control plane and `splitblk tap stats`. Null detaches.
   */
  attachStats(source: (() => RingCounterReport) | null): void {
    this.ringStats = source;
  }

  stats(): VbdStats {
    return snapshot(this.counters, this.busyRequests, this.pendingCount, this.cfg.copies.bytesCopied, this.ringStats?.());
  }
}
