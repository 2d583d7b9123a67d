/**
 * A test-only blkif backend serving a RAM disk, in the test's process, so the frontend simulator
 * can be exercised before (and independently of) the real blkback. It is deliberately simple —
 * no validation beyond bounds, a mapping per request (or per persistent grant) — and can inject
 * faults to show that verification catches them. The lead's end-to-end tests use the real
 * blkback instead.
 */
import type { EventChannels, ForeignMapping, GrantMapper, Hypervisor } from '../../src/hypervisor/api.js';
import { codecForProtocol, type BlkifCodec } from '../../src/blkback/protocol/codec.js';
import {
  BLKIF_OP_DISCARD,
  BLKIF_OP_FLUSH_DISKCACHE,
  BLKIF_OP_INDIRECT,
  BLKIF_OP_READ,
  BLKIF_OP_WRITE,
  BLKIF_OP_WRITE_BARRIER,
  BLKIF_RSP_EOPNOTSUPP,
  BLKIF_RSP_ERROR,
  BLKIF_RSP_OKAY,
} from '../../src/blkback/protocol/ops.js';
import { BlkifRequest } from '../../src/blkback/protocol/request.js';
import { parseFrontendConfig } from '../../src/blkback/frontend-config.js';
import { BackRing } from '../../src/ring/back.js';
import type { XsClient } from '../../src/xenstore-sim/client/api.js';
import { XenbusState } from '../../src/xenstore-sim/xenbus/state.js';
import { waitForState, watchXenbusState } from '../../src/xenstore-sim/xenbus/watch.js';

export interface RamBackendOptions {
  sectors: number;
  maxRingPageOrder?: number;
  maxQueues?: number;
  /** feature-max-indirect-segments (0: not offered). */
  indirectSegments?: number;
  persistent?: boolean;
  flush?: boolean;
  discard?: boolean;
  /** Fault injection: 'misdirect' shifts every write by 8 sectors; 'drop' acknowledges writes without doing them. */
  fault?: 'misdirect' | 'drop';
}

interface BackQueue {
  ring: BackRing;
  mapping: ForeignMapping;
  port: number;
}

export const backendPath = (domid: number, devid: number) => `/local/domain/0/backend/vbd/${domid}/${devid}`;
export const frontendPath = (domid: number, devid: number) => `/local/domain/${domid}/device/vbd/${devid}`;

/** The toolstack's part: the two device directories with libxl's ownership. */
export async function createVbdNodes(xs: XsClient, domid: number, devid: number): Promise<void> {
  const fe = frontendPath(domid, devid);
  const be = backendPath(domid, devid);
  // As libxl: each directory is made and given its owner first, so the nodes written in it
  // inherit those permissions.
  await xs.transaction(async (tx) => {
    await tx.mkdir(be);
    await tx.setPerms(be, [{ domid: 0, perm: 'n' }, { domid, perm: 'r' }]);
    await tx.write(`${be}/frontend`, fe);
    await tx.write(`${be}/frontend-id`, String(domid));
    await tx.write(`${be}/online`, '1');
    await tx.write(`${be}/state`, String(XenbusState.Initialising));
    await tx.mkdir(fe);
    await tx.setPerms(fe, [{ domid, perm: 'n' }, { domid: 0, perm: 'r' }]);
    await tx.write(`${fe}/backend`, be);
    await tx.write(`${fe}/backend-id`, '0');
    await tx.write(`${fe}/virtual-device`, String(devid));
    await tx.write(`${fe}/state`, String(XenbusState.Initialising));
  });
}

export class RamBackend {
  readonly disk: Uint8Array;
  readonly requests = { read: 0, write: 0, flush: 0, discard: 0, indirect: 0, other: 0 };
  frontendProtocol: string | undefined;
  frontendPersistent = false;
  queuesConnected = 0;
  ringPageOrder = 0;
  private readonly mapper: GrantMapper;
  private readonly evtchns: EventChannels;
  private queues: BackQueue[] = [];
  private codec!: BlkifCodec;
  private readonly req = new BlkifRequest(4096);
  private readonly persistentMaps = new Map<number, ForeignMapping>();
  private usePersistent = false;
  private closed = false;
  private stateLoop: Promise<void> | undefined;
  private stopWatch: (() => Promise<void>) | undefined;

  constructor(
    hypervisor: Hypervisor,
    private readonly xs: XsClient,
    readonly domid: number,
    readonly devid: number,
    readonly opts: RamBackendOptions,
  ) {
    this.disk = new Uint8Array(opts.sectors * 512);
    this.mapper = hypervisor.openGrantMapper(0);
    this.evtchns = hypervisor.openEventChannels(0);
  }

  private get be() {
    return backendPath(this.domid, this.devid);
  }
  private get fe() {
    return frontendPath(this.domid, this.devid);
  }

  /** Publish the InitWait features and serve the frontend through connect and close. */
  async start(): Promise<void> {
    const o = this.opts;
    await this.xs.transaction(async (tx) => {
      await tx.write(`${this.be}/max-ring-page-order`, String(o.maxRingPageOrder ?? 0));
      await tx.write(`${this.be}/multi-queue-max-queues`, String(o.maxQueues ?? 1));
      if ((o.indirectSegments ?? 0) > 0) await tx.write(`${this.be}/feature-max-indirect-segments`, String(o.indirectSegments));
      await tx.write(`${this.be}/state`, String(XenbusState.InitWait));
    });
    const watch = await watchXenbusState(this.xs, `${this.fe}/state`);
    this.stopWatch = () => watch.close();
    this.stateLoop = (async () => {
      for await (const state of watch) {
        if (state === XenbusState.Initialised) await this.connect();
        else if (state === XenbusState.Initialising && this.queues.length === 0) await this.setState(XenbusState.InitWait);
        else if (state === XenbusState.Closing) await this.setState(XenbusState.Closing);
        else if (state === XenbusState.Closed || state === undefined) {
          this.disconnect();
          await this.setState(XenbusState.Closed).catch(() => undefined);
        }
      }
    })().catch(() => undefined);
  }

  private async setState(state: XenbusState): Promise<void> {
    await this.xs.write(`${this.be}/state`, String(state));
  }

  private async connect(): Promise<void> {
    const o = this.opts;
    const config = await parseFrontendConfig((key) => this.xs.readString(`${this.fe}/${key}`), {
      ringPageOrderMax: o.maxRingPageOrder ?? 0,
      queuesMax: o.maxQueues ?? 1,
    });
    if (!config.ok) {
      await this.xs.write(`${this.be}/error`, config.error.message);
      await this.setState(XenbusState.Closing);
      return;
    }
    const c = config.value;
    this.codec = codecForProtocol(c.protocol)!;
    this.frontendProtocol = c.protocol;
    this.frontendPersistent = c.persistent;
    this.usePersistent = c.persistent && (o.persistent ?? false);
    this.ringPageOrder = c.ringPageOrder;
    for (const q of c.queues) {
      const mapping = this.mapper.mapGrantRefs(this.domid, q.ringRefs, q.ringRefs.length, true);
      const ring = BackRing.init(mapping.buffer, 0, mapping.buffer.byteLength, this.codec);
      const port = this.evtchns.bindInterdomain(this.domid, q.eventChannel);
      const queue = { ring, mapping, port };
      this.queues.push(queue);
      this.evtchns.onEvent(port, () => this.service(queue));
    }
    this.queuesConnected = this.queues.length;
    await this.xs.transaction(async (tx) => {
      await tx.write(`${this.be}/sectors`, String(o.sectors));
      await tx.write(`${this.be}/sector-size`, '512');
      await tx.write(`${this.be}/info`, '0');
      await tx.write(`${this.be}/feature-flush-cache`, o.flush === false ? '0' : '1');
      await tx.write(`${this.be}/feature-discard`, o.discard === true ? '1' : '0');
      await tx.write(`${this.be}/feature-persistent`, o.persistent === true ? '1' : '0');
      await tx.write(`${this.be}/state`, String(XenbusState.Connected));
    });
    // Requests may have been queued before the event handler existed.
    for (const q of this.queues) this.service(q);
  }

  private service(q: BackQueue): void {
    if (this.closed) return;
    const ring = q.ring;
    for (;;) {
      const prod = ring.requestsProduced();
      if (ring.requestProdOverflow(prod)) return;
      while (ring.reqCons !== prod && !ring.requestConsOverflow(ring.reqCons)) {
        this.codec.readRequest(ring.sring, ring.requestSlot(ring.reqCons), this.req);
        ring.reqCons = (ring.reqCons + 1) >>> 0;
        const status = this.handle(this.req);
        const echoed = this.req.operation === BLKIF_OP_INDIRECT ? this.req.indirectOp : this.req.operation;
        this.codec.writeResponse(ring.sring, ring.produceResponse(), this.req.idLo, this.req.idHi, echoed, status);
      }
      if (ring.pushResponsesAndCheckNotify()) this.evtchns.notify(q.port);
      if (!ring.finalCheckForRequests()) return;
    }
  }

  private handle(req: BlkifRequest): number {
    switch (req.operation) {
      case BLKIF_OP_READ:
      case BLKIF_OP_WRITE:
        return this.readWrite(req, req.operation);
      case BLKIF_OP_INDIRECT: {
        this.requests.indirect++;
        const pages = Math.ceil(req.nrSegments / 512);
        const map = this.mapper.mapGrantRefs(this.domid, req.indirectGrefs, pages, false);
        try {
          const view = new DataView(map.buffer);
          for (let p = 0; p < pages; p++) {
            const count = Math.min(512, req.nrSegments - p * 512);
            this.codec.readIndirectSegments(view, p * 4096, 0, count, req, p * 512);
          }
        } finally {
          map.unmap();
        }
        return this.readWrite(req, req.indirectOp);
      }
      case BLKIF_OP_FLUSH_DISKCACHE:
      case BLKIF_OP_WRITE_BARRIER:
        this.requests.flush++;
        return BLKIF_RSP_OKAY;
      case BLKIF_OP_DISCARD:
        this.requests.discard++;
        if (req.sectorNumber + req.nrSectors > this.opts.sectors) return BLKIF_RSP_ERROR;
        this.disk.fill(0, req.sectorNumber * 512, (req.sectorNumber + req.nrSectors) * 512);
        return BLKIF_RSP_OKAY;
      default:
        this.requests.other++;
        return BLKIF_RSP_EOPNOTSUPP;
    }
  }

  private segmentPage(gref: number, writable: boolean, mapped: ForeignMapping[]): Uint8Array {
    if (this.usePersistent) {
      let m = this.persistentMaps.get(gref);
      if (m === undefined) {
        m = this.mapper.mapGrantRefs(this.domid, [gref], 1, true);
        this.persistentMaps.set(gref, m);
      }
      return new Uint8Array(m.buffer);
    }
    const m = this.mapper.mapGrantRefs(this.domid, [gref], 1, writable);
    mapped.push(m);
    return new Uint8Array(m.buffer);
  }

  private readWrite(req: BlkifRequest, op: number): number {
    const write = op === BLKIF_OP_WRITE;
    if (write) this.requests.write++;
    else this.requests.read++;
    let sector = req.sectorNumber;
    if (write && this.opts.fault === 'misdirect') sector += 8;
    const mapped: ForeignMapping[] = [];
    try {
      for (let i = 0; i < req.segmentCount; i++) {
        const first = req.firstSect[i]!;
        const last = req.lastSect[i]!;
        const n = last - first + 1;
        if (last > 7 || first > last || sector + n > this.opts.sectors) return BLKIF_RSP_ERROR;
        const page = this.segmentPage(req.gref[i]!, !write, mapped);
        const disk = this.disk.subarray(sector * 512, (sector + n) * 512);
        if (write) {
          if (this.opts.fault !== 'drop') disk.set(page.subarray(first * 512, (last + 1) * 512));
        } else {
          page.set(disk, first * 512);
        }
        sector += n;
      }
      return BLKIF_RSP_OKAY;
    } catch {
      return BLKIF_RSP_ERROR;
    } finally {
      for (const m of mapped) m.unmap();
    }
  }

  private disconnect(): void {
    for (const q of this.queues) {
      try {
        this.evtchns.close(q.port);
      } catch {
        // The frontend closed its end first.
      }
      q.mapping.unmap();
    }
    this.queues = [];
    for (const m of this.persistentMaps.values()) m.unmap();
    this.persistentMaps.clear();
  }

  /** Wait until the backend reaches `state`. */
  waitState(state: XenbusState, timeoutMs = 5000): Promise<unknown> {
    return waitForState(this.xs, `${this.be}/state`, (s) => s === state, timeoutMs);
  }

  async stop(): Promise<void> {
    this.closed = true;
    await this.stopWatch?.();
    await this.stateLoop;
    this.disconnect();
    this.evtchns.closeAll();
    this.mapper.close();
  }
}
