/**
 * The blkfront data path over negotiated rings: slots, request building (direct, indirect,
 * flush, discard), grants (persistent or per request) and completions. It knows nothing of
 * xenstore; xenbus.ts negotiates and then builds one of these.
 */
import type { EventChannels, GrantTable, GuestMemory } from '../hypervisor/api.js';
import type { BlkifCodec } from '../blkback/protocol/codec.js';
import {
  BLKIF_DISCARD_SECURE,
  BLKIF_MAX_SEGMENTS_PER_REQUEST,
  BLKIF_OP_DISCARD,
  BLKIF_OP_FLUSH_DISKCACHE,
  BLKIF_OP_INDIRECT,
  BLKIF_OP_READ,
  BLKIF_OP_WRITE,
  BLKIF_OP_WRITE_BARRIER,
  BLKIF_RSP_ERROR,
  BLKIF_SECTOR_BYTES,
  BLKIF_SECTORS_PER_PAGE,
  BLKIF_SEGMENTS_PER_INDIRECT_FRAME,
} from '../blkback/protocol/ops.js';
import { PAGE_SIZE } from '../native/api.js';
import { assert } from '../util/assert.js';
import { SplitblkError } from '../util/errors.js';
import { BlkfrontQueue, DRAIN_BROKEN, DRAIN_MORE } from './queue.js';
import { IoSlot, type IoOp } from './slot.js';

export const BLKFRONT_IO_ERROR = 'SPLITBLK_ERR_BLKFRONT_IO';

export interface DataPathDeps {
  memory: GuestMemory;
  grants: GrantTable;
  evtchns: EventChannels;
}

export interface DataPathConfig {
  backendDomid: number;
  codec: BlkifCodec;
  ringPageOrder: number;
  queues: number;
  /** Slots (the most requests in flight); capped at what the rings hold. */
  slots: number;
  /** The largest request in bytes (a multiple of 512). */
  maxIoBytes: number;
  /** Segments per request: 11, or the negotiated indirect count. */
  segmentsMax: number;
  indirect: boolean;
  persistent: boolean;
  /** How flush() is sent: FLUSH_DISKCACHE, WRITE_BARRIER, or not at all. */
  flush: 'flush-diskcache' | 'barrier' | 'none';
  discard: boolean;
  discardSecure: boolean;
  /** blkif_vdev_t handle sent in requests (the device id, as Linux blkfront sends). */
  handle: number;
  /** Disk size in 512-byte sectors (requests beyond it are refused here, before the ring). */
  sectors: number;
  readonly: boolean;
}

export interface DataPathStats {
  requests: number;
  responses: number;
  notificationsSent: number;
  events: number;
  errors: number;
  /** Responses whose id named no request in flight (a backend bug). */
  bogusResponses: number;
}

export class BlkfrontDataPath {
  readonly queues: BlkfrontQueue[];
  readonly slots: IoSlot[] = [];
  private readonly free: IoSlot[] = [];
  readonly config: DataPathConfig;
  inflight = 0;
  bogusResponses = 0;
  errors = 0;
  /** Set when a ring broke (impossible rsp_prod); every request then fails. */
  broken: SplitblkError | undefined;
  /** Grant refs the backend still mapped when we ended them; retried at close. */
  readonly leakedRefs: number[] = [];
  private readonly completeBound = (idLo: number, idHi: number, status: number) => this.complete(idLo, idHi, status);
  private inDispatch = false;
  private closed = false;

  /**
   * Build the data path. `queues` are the rings set up earlier (at InitWait, before the disk's
   * features were known); when absent they are created here.
   */
  constructor(
    private readonly deps: DataPathDeps,
    config: DataPathConfig,
    queues?: BlkfrontQueue[],
  ) {
    assert(config.maxIoBytes > 0 && config.maxIoBytes % BLKIF_SECTOR_BYTES === 0, 'maxIoBytes is a multiple of 512');
    assert(config.maxIoBytes <= config.segmentsMax * PAGE_SIZE, 'maxIoBytes fits the segments');
    this.queues = queues ?? BlkfrontDataPath.createQueues(deps, config.codec, config.backendDomid, config.ringPageOrder, config.queues);
    assert(this.queues.length === config.queues, 'one ring per queue');
    const slots = Math.max(1, Math.min(config.slots, config.queues * this.queues[0]!.ring.size));
    this.config = { ...config, slots };
    try {
      const dataPages = Math.ceil(config.maxIoBytes / PAGE_SIZE);
      const indirectPages = config.indirect && dataPages > BLKIF_MAX_SEGMENTS_PER_REQUEST ? Math.ceil(dataPages / BLKIF_SEGMENTS_PER_INDIRECT_FRAME) : 0;
      for (let tag = 0; tag < slots; tag++) {
        const slot = new IoSlot(deps.memory, tag, tag % config.queues, dataPages, indirectPages, Math.max(config.segmentsMax, BLKIF_MAX_SEGMENTS_PER_REQUEST));
        this.slots.push(slot);
        if (config.persistent) slot.grantPersistent(deps.grants, config.backendDomid);
      }
    } catch (error) {
      this.release();
      throw error;
    }
    for (let i = this.slots.length - 1; i >= 0; i--) this.free.push(this.slots[i]!);
  }

  /** One ring and event channel per queue; on failure, whatever was made is taken back. */
  static createQueues(deps: DataPathDeps, codec: BlkifCodec, backendDomid: number, ringPageOrder: number, count: number): BlkfrontQueue[] {
    const queues: BlkfrontQueue[] = [];
    try {
      for (let q = 0; q < count; q++) {
        queues.push(new BlkfrontQueue(q, codec, deps.memory, deps.grants, deps.evtchns, backendDomid, ringPageOrder));
      }
    } catch (error) {
      BlkfrontDataPath.destroyQueues(queues, []);
      throw error;
    }
    return queues;
  }

  static destroyQueues(queues: readonly BlkfrontQueue[], leaked: number[]): void {
    for (const q of queues) q.destroy(leaked);
  }

  /** Start taking events (after the backend connected). */
  listen(): void {
    for (const q of this.queues) q.listen(() => this.onEvent(q));
  }

  /** A free slot, or undefined when all are in flight. */
  acquire(): IoSlot | undefined {
    return this.free.pop();
  }

  /** Give a slot back after its completion. */
  releaseSlot(slot: IoSlot): void {
    assert(!slot.busy, 'release of a slot in flight');
    this.free.push(slot);
  }

  get freeSlots(): number {
    return this.free.length;
  }

  /**
   * Issue `op` on the slot's buffer. `sectors` counts 512-byte sectors (0 for flush). `done` runs
   * once with slot.status set (BLKIF_RSP_*). A request the device cannot take (beyond the disk,
   * unsupported) throws a SplitblkError and leaves the slot free to reuse.
   */
  submit(slot: IoSlot, op: IoOp, sector: number, sectors: number, done: (slot: IoSlot) => void, secure = false): void {
    assert(!slot.busy, 'submit on a slot in flight');
    this.checkRequest(op, sector, sectors);
    slot.op = op;
    slot.sector = sector;
    slot.sectors = sectors;
    slot.done = done;
    slot.seq = (slot.seq + 1) >>> 0;
    const req = slot.req;
    req.clear();
    req.idLo = slot.tag;
    req.idHi = slot.seq;
    req.sectorNumber = sector;
    req.handle = this.config.handle;
    if (op === 'read' || op === 'write') this.buildReadWrite(slot, op === 'read' ? BLKIF_OP_READ : BLKIF_OP_WRITE);
    else if (op === 'flush') req.operation = this.config.flush === 'barrier' ? BLKIF_OP_WRITE_BARRIER : BLKIF_OP_FLUSH_DISKCACHE;
    else {
      req.operation = BLKIF_OP_DISCARD;
      req.nrSectors = sectors;
      req.flag = secure ? BLKIF_DISCARD_SECURE : 0;
    }
    slot.busy = true;
    this.inflight++;
    const queue = this.queues[slot.queue]!;
    assert(!queue.ring.full(), 'a slot always has a ring entry');
    slot.startMs = performance.now();
    queue.write(req);
    if (!this.inDispatch) queue.push();
  }

  /** Push every queue with unpublished requests (after a batch of submits outside an event). */
  kick(): void {
    for (const q of this.queues) q.push();
  }

  private checkRequest(op: IoOp, sector: number, sectors: number): void {
    const c = this.config;
    if (this.closed) throw new SplitblkError(BLKFRONT_IO_ERROR, 'the device is closed');
    if (this.broken !== undefined) throw this.broken;
    if (op === 'flush') {
      if (c.flush === 'none') throw new SplitblkError(BLKFRONT_IO_ERROR, 'the backend offers neither flush nor barrier');
      return;
    }
    if (!Number.isInteger(sector) || !Number.isInteger(sectors) || sector < 0 || sectors < 1 || sector + sectors > c.sectors) {
      throw new SplitblkError(BLKFRONT_IO_ERROR, `sectors ${sector}+${sectors} are outside the disk (${c.sectors} sectors)`, { sector });
    }
    if (op === 'discard') {
      if (!c.discard) throw new SplitblkError(BLKFRONT_IO_ERROR, 'the backend does not offer discard');
      return;
    }
    if (op === 'write' && c.readonly) throw new SplitblkError(BLKFRONT_IO_ERROR, 'the disk is read-only', { sector });
    if (sectors * BLKIF_SECTOR_BYTES > c.maxIoBytes) {
      throw new SplitblkError(BLKFRONT_IO_ERROR, `${sectors * BLKIF_SECTOR_BYTES} bytes exceed the largest request (${c.maxIoBytes})`, { sector });
    }
  }

  /** Segments over the slot's pages from offset 0; indirect when more than 11. */
  private buildReadWrite(slot: IoSlot, operation: number): void {
    const req = slot.req;
    const segments = Math.ceil(slot.sectors / BLKIF_SECTORS_PER_PAGE);
    const persistent = this.config.persistent;
    // Without persistent grants, each request grants its pages: read-only when the backend
    // only reads them (a WRITE), writable for a READ.
    if (!persistent) {
      const readonly = operation === BLKIF_OP_WRITE;
      for (let i = 0; i < segments; i++) slot.dataRefs[i] = this.deps.grants.grantAccess(this.config.backendDomid, slot.dataGfn + i, readonly);
      slot.dataRefsHeld = segments;
    }
    let remaining = slot.sectors;
    for (let i = 0; i < segments; i++) {
      const n = Math.min(remaining, BLKIF_SECTORS_PER_PAGE);
      req.gref[i] = slot.dataRefs[i]!;
      req.firstSect[i] = 0;
      req.lastSect[i] = n - 1;
      remaining -= n;
    }
    req.segmentCount = segments;
    req.nrSegments = segments;
    if (segments <= BLKIF_MAX_SEGMENTS_PER_REQUEST) {
      req.operation = operation;
      return;
    }
    assert(slot.indirect !== undefined, 'indirect pages for a large request');
    req.operation = BLKIF_OP_INDIRECT;
    req.indirectOp = operation;
    const pages = Math.ceil(segments / BLKIF_SEGMENTS_PER_INDIRECT_FRAME);
    for (let p = 0; p < pages; p++) {
      const from = p * BLKIF_SEGMENTS_PER_INDIRECT_FRAME;
      const count = Math.min(BLKIF_SEGMENTS_PER_INDIRECT_FRAME, segments - from);
      this.config.codec.writeIndirectSegments(slot.indirect, p * PAGE_SIZE, 0, req, from, count);
      if (!persistent) slot.indirectRefs[p] = this.deps.grants.grantAccess(this.config.backendDomid, slot.indirectGfn + p, true);
      req.indirectGrefs[p] = slot.indirectRefs[p]!;
    }
    if (!persistent) slot.indirectRefsHeld = pages;
  }

  private onEvent(queue: BlkfrontQueue): void {
    if (this.closed) return;
    this.inDispatch = true;
    let result;
    try {
      result = queue.drain(this.completeBound);
    } finally {
      this.inDispatch = false;
    }
    // Requests submitted from completion callbacks are published in one push.
    this.kick();
    if (result === DRAIN_BROKEN) this.breakDevice(queue);
    else if (result === DRAIN_MORE) setImmediate(() => this.onEvent(queue));
  }

  private complete(idLo: number, idHi: number, status: number): void {
    const slot = idLo < this.slots.length ? this.slots[idLo] : undefined;
    if (slot === undefined || !slot.busy || slot.seq !== idHi) {
      this.bogusResponses++;
      return;
    }
    this.finish(slot, status);
  }

  private finish(slot: IoSlot, status: number): void {
    if (!this.config.persistent) slot.endGrants(this.deps.grants, this.leakedRefs);
    slot.latencyMs = performance.now() - slot.startMs;
    slot.status = status;
    slot.busy = false;
    this.inflight--;
    if (status !== 0) this.errors++;
    const done = slot.done;
    slot.done = undefined;
    done?.(slot);
  }

  private breakDevice(queue: BlkfrontQueue): void {
    this.broken = new SplitblkError(BLKFRONT_IO_ERROR, `the backend produced an impossible rsp_prod on queue ${queue.index}`);
    this.failInflight();
  }

  /** Fail every request in flight (the backend is gone or broken). */
  failInflight(): void {
    for (const slot of this.slots) if (slot.busy) this.finish(slot, BLKIF_RSP_ERROR);
  }

  stats(): DataPathStats {
    const s: DataPathStats = { requests: 0, responses: 0, notificationsSent: 0, events: 0, errors: this.errors, bogusResponses: this.bogusResponses };
    for (const q of this.queues) {
      s.requests += q.stats.requests;
      s.responses += q.stats.responses;
      s.notificationsSent += q.stats.notificationsSent;
      s.events += q.stats.events;
    }
    return s;
  }

  /**
   * Close the event channels and give back grants and pages. Call after the backend has
   * disconnected (Closed): refs it still maps are kept in leakedRefs and their pages are not
   * freed. Idempotent.
   */
  release(): void {
    if (this.closed) return;
    this.closed = true;
    this.failInflight();
    BlkfrontDataPath.destroyQueues(this.queues, this.leakedRefs);
    for (const slot of this.slots) {
      const before = this.leakedRefs.length;
      slot.endGrants(this.deps.grants, this.leakedRefs);
      if (this.leakedRefs.length === before) slot.free(this.deps.memory);
    }
    // Leaked refs from earlier completions: one more try now that the backend is gone.
    const retry = this.leakedRefs.splice(0);
    for (const ref of retry) if (!this.deps.grants.endAccess(ref)) this.leakedRefs.push(ref);
  }
}
