/**
 * A blkfront acting as a guest domain: connect() runs the xenbus handshake and negotiates every
 * feature the backend offers (or less, by option), then I/O goes through `io` (the callback
 * data path, for workloads) or read/write/flush/discard (promises, for simple use).
 */
import { BLKIF_X86_64, type BlkifCodec } from '../blkback/protocol/codec.js';
import { BLKIF_SECTOR_BYTES, VDISK_READONLY } from '../blkback/protocol/ops.js';
import { PAGE_SIZE } from '../native/api.js';
import { ringSlotsForOrder } from '../ring/sring.js';
import type { XsClient } from '../xenstore-sim/client/api.js';
import { XenbusState } from '../xenstore-sim/xenbus/state.js';
import { watchXenbusState, type XenbusStateWatch } from '../xenstore-sim/xenbus/watch.js';
import { SplitblkError } from '../util/errors.js';
import { BlkfrontDataPath, type DataPathDeps } from './device.js';
import {
  chooseDisk,
  chooseTransport,
  readDiskFeatures,
  readTransportFeatures,
  type BackendDiskFeatures,
  type DiskChoice,
  type NegotiateOptions,
  type TransportChoice,
} from './features.js';
import type { IoSlot } from './slot.js';
import {
  backendIsGone,
  BLKFRONT_XENBUS_ERROR,
  closeHandshake,
  locateBackend,
  publishRings,
  resetFrontend,
  setFrontendState,
  unpublishRings,
  waitForBackend,
  type BackendLocation,
} from './xenbus.js';

export interface BlkfrontDeps extends DataPathDeps {
  /** A xenstore client acting as the guest (connectGuestRing). */
  xs: XsClient;
}

export interface BlkfrontOptions extends NegotiateOptions {
  domid: number;
  devid: number;
  /** Requests in flight at most (slots preallocated); default 32. */
  iodepth?: number;
  /** The largest request in bytes (default 128 KiB, or 44 KiB without indirect descriptors). */
  maxIoBytes?: number;
  /** The ABI to speak (default x86_64). */
  codec?: BlkifCodec;
  /** Each handshake wait; default 10 s. */
  timeoutMs?: number;
}

/** What was negotiated, for reports. */
export interface Negotiated {
  protocol: string;
  ringPageOrder: number;
  ringSlots: number;
  queues: number;
  /** Segments per indirect request; 0 when indirect descriptors are not used. */
  indirectSegments: number;
  persistent: boolean;
  flush: 'flush-diskcache' | 'barrier' | 'none';
  discard: boolean;
  discardSecure: boolean;
  iodepth: number;
  maxIoBytes: number;
}

export interface CloseReport {
  /** The backend's state at the end (Closed when it disconnected cleanly). */
  backendState: XenbusState | undefined;
  /** Grant refs the backend still mapped (their pages were not reused). */
  leakedGrants: number;
}

const DEFAULT_IODEPTH = 32;
const DEFAULT_MAX_IO_BYTES = 128 * 1024;
const DEFAULT_TIMEOUT_MS = 10_000;

export class Blkfront {
  /** Set when the backend closed or vanished while we were connected. */
  backendClosed = false;
  /** Called once when the backend closes or goes away on its own. */
  onBackendClosed: (() => void) | undefined;
  private stateWatch: XenbusStateWatch | undefined;
  private closing = false;
  private readonly waiters: Array<() => void> = [];

  private constructor(
    private readonly deps: BlkfrontDeps,
    readonly location: BackendLocation,
    readonly disk: BackendDiskFeatures,
    readonly negotiated: Negotiated,
    readonly io: BlkfrontDataPath,
    private readonly timeoutMs: number,
  ) {}

  /** Disk size in 512-byte sectors. */
  get sectors(): number {
    return this.disk.sectors;
  }

  static async connect(deps: BlkfrontDeps, opts: BlkfrontOptions): Promise<Blkfront> {
    const xs = deps.xs;
    const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const codec = opts.codec ?? BLKIF_X86_64;
    const loc = await locateBackend(xs, opts.domid, opts.devid);
    const reconnect = await resetFrontend(xs, loc, timeoutMs);
    await waitForBackend(xs, loc, XenbusState.InitWait, timeoutMs, { closedIsTransient: reconnect });
    const readBackend = (key: string) => xs.readString(`${loc.backendPath}/${key}`);
    const transport = chooseTransport(await readTransportFeatures(readBackend), opts);
    const wantPersistent = opts.persistent ?? true;

    // The rings exist before the disk's features are known (Linux sets them up at InitWait);
    // the data slots are sized after Connected, from feature-max-indirect-segments.
    const rings = new PendingRings(deps, codec, loc.backendDomid, transport.ringPageOrder, transport.queues);
    try {
      await publishRings(xs, loc, rings.queues(), transport.ringPageOrder, codec.protocol, wantPersistent);
      await setFrontendState(xs, loc, XenbusState.Initialised);
      await waitForBackend(xs, loc, XenbusState.Connected, timeoutMs);
      const disk = await readDiskFeatures(readBackend);
      if (!disk.ok) throw disk.error;
      const choice = chooseDisk(disk.value, { ...opts, persistent: wantPersistent });
      const maxIoBytes = requestBytes(opts, choice);
      const d = disk.value;
      const io = rings.finish({
        // The request's handle is a blkif_vdev_t (uint16_t): the low 16 bits of the device id.
        handle: opts.devid & 0xffff,
        sectors: d.sectors,
        readonly: (d.info & VDISK_READONLY) !== 0,
        slots: opts.iodepth ?? DEFAULT_IODEPTH,
        maxIoBytes,
        segmentsMax: choice.segmentsMax,
        indirect: choice.indirect,
        persistent: choice.persistent,
        flush: d.flushCache ? 'flush-diskcache' : d.barrier ? 'barrier' : 'none',
        discard: d.discard,
        discardSecure: d.discardSecure,
      });
      const negotiated = negotiatedOf(codec, transport, choice, d, io);
      const front = new Blkfront(deps, loc, d, negotiated, io, timeoutMs);
      io.listen();
      await setFrontendState(xs, loc, XenbusState.Connected);
      await front.watchBackend();
      return front;
    } catch (error) {
      // Tell the backend we are giving up, then take everything back.
      await closeHandshake(xs, loc, Math.min(timeoutMs, 2000)).catch(() => undefined);
      rings.abandon();
      await unpublishRings(xs, loc, transport.queues).catch(() => undefined);
      throw error;
    }
  }

  private async watchBackend(): Promise<void> {
    const watch = await watchXenbusState(this.deps.xs, `${this.location.backendPath}/state`);
    this.stateWatch = watch;
    void (async () => {
      try {
        for await (const state of watch) {
          if (!backendIsGone(state) || this.closing) continue;
          this.backendClosed = true;
          this.io.failInflight();
          this.onBackendClosed?.();
          return;
        }
      } catch {
        // The watch ends when the connection closes; nothing to report.
      }
    })();
  }

  /** Read `sectors` sectors at `sector` into a new buffer (one request; ≤ maxIoBytes). */
  read(sector: number, sectors: number): Promise<Uint8Array> {
    return this.run('read', sector, sectors, undefined).then((slot) => {
      const out = slot.bytes.slice(0, sectors * BLKIF_SECTOR_BYTES);
      this.io.releaseSlot(slot);
      this.wakeWaiter();
      return out;
    });
  }

  /** Write `data` (a multiple of 512 bytes, ≤ maxIoBytes) at `sector`. */
  write(sector: number, data: Uint8Array): Promise<void> {
    if (data.length % BLKIF_SECTOR_BYTES !== 0 || data.length === 0) {
      return Promise.reject(new SplitblkError(BLKFRONT_XENBUS_ERROR, `write of ${data.length} bytes is not whole sectors`));
    }
    return this.run('write', sector, data.length / BLKIF_SECTOR_BYTES, data).then((slot) => this.done(slot));
  }

  /** FLUSH_DISKCACHE (or WRITE_BARRIER when only that is offered). */
  flush(): Promise<void> {
    return this.run('flush', 0, 0, undefined).then((slot) => this.done(slot));
  }

  discard(sector: number, sectors: number, secure = false): Promise<void> {
    return this.run('discard', sector, sectors, undefined, secure).then((slot) => this.done(slot));
  }

  private done(slot: IoSlot): void {
    this.io.releaseSlot(slot);
    this.wakeWaiter();
  }

  private async run(op: 'read' | 'write' | 'flush' | 'discard', sector: number, sectors: number, data: Uint8Array | undefined, secure = false): Promise<IoSlot> {
    let slot = this.io.acquire();
    while (slot === undefined) {
      await new Promise<void>((resolve) => this.waiters.push(resolve));
      slot = this.io.acquire();
    }
    if (data !== undefined) slot.bytes.set(data);
    const s = slot;
    return new Promise<IoSlot>((resolve, reject) => {
      try {
        this.io.submit(s, op, sector, sectors, (done) => {
          if (done.status === 0) resolve(done);
          else {
            this.done(done);
            reject(new SplitblkError('SPLITBLK_ERR_BLKFRONT_IO', `${op} of ${sectors} sectors at ${sector} failed with status ${done.status}`, { sector, status: done.status }));
          }
        }, secure);
      } catch (error) {
        this.done(s);
        reject(error);
      }
    });
  }

  private wakeWaiter(): void {
    this.waiters.shift()?.();
  }

  /**
   * Disconnect: wait (bounded) for requests in flight, then Closing → Closed with the backend
   * following, then end every grant and free the pages. Idempotent.
   */
  async close(): Promise<CloseReport> {
    if (this.closing) return { backendState: undefined, leakedGrants: this.io.leakedRefs.length };
    this.closing = true;
    const deadline = performance.now() + this.timeoutMs;
    while (this.io.inflight > 0 && !this.backendClosed && performance.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await this.stateWatch?.close().catch(() => undefined);
    const state = await closeHandshake(this.deps.xs, this.location, this.timeoutMs);
    this.io.release();
    await unpublishRings(this.deps.xs, this.location, this.negotiated.queues).catch(() => undefined);
    return { backendState: state, leakedGrants: this.io.leakedRefs.length };
  }
}

/** The largest request: the option, checked against the segments this connection allows. */
function requestBytes(opts: BlkfrontOptions, choice: DiskChoice): number {
  const bytes = opts.maxIoBytes ?? Math.min(DEFAULT_MAX_IO_BYTES, choice.segmentsMax * PAGE_SIZE);
  if (bytes % BLKIF_SECTOR_BYTES !== 0 || bytes < BLKIF_SECTOR_BYTES || bytes > choice.segmentsMax * PAGE_SIZE) {
    throw new SplitblkError(
      BLKFRONT_XENBUS_ERROR,
      `requests of ${bytes} bytes need ${Math.ceil(bytes / PAGE_SIZE)} segments; ` +
        `this connection allows ${choice.segmentsMax} (${choice.indirect ? 'indirect' : 'no indirect descriptors'})`,
    );
  }
  return bytes;
}

function negotiatedOf(codec: BlkifCodec, transport: TransportChoice, choice: DiskChoice, d: BackendDiskFeatures, io: BlkfrontDataPath): Negotiated {
  return {
    protocol: codec.protocol,
    ringPageOrder: transport.ringPageOrder,
    ringSlots: ringSlotsForOrder(codec, transport.ringPageOrder),
    queues: transport.queues,
    indirectSegments: choice.indirect ? choice.segmentsMax : 0,
    persistent: choice.persistent,
    flush: io.config.flush,
    discard: d.discard,
    discardSecure: d.discardSecure,
    iodepth: io.config.slots,
    maxIoBytes: io.config.maxIoBytes,
  };
}

/** Rings set up at InitWait, turned into a data path once the disk's features are known. */
class PendingRings {
  private io: BlkfrontDataPath | undefined;
  private readonly built: ReturnType<typeof BlkfrontDataPath.createQueues>;

  constructor(
    private readonly deps: DataPathDeps,
    private readonly codec: BlkifCodec,
    private readonly backendDomid: number,
    private readonly ringPageOrder: number,
    queues: number,
  ) {
    this.built = BlkfrontDataPath.createQueues(deps, codec, backendDomid, ringPageOrder, queues);
  }

  queues() {
    return this.built;
  }

  finish(rest: Omit<ConstructorParameters<typeof BlkfrontDataPath>[1], 'backendDomid' | 'codec' | 'ringPageOrder' | 'queues'>): BlkfrontDataPath {
    this.io = new BlkfrontDataPath(this.deps, {
      ...rest,
      backendDomid: this.backendDomid,
      codec: this.codec,
      ringPageOrder: this.ringPageOrder,
      queues: this.built.length,
    }, this.built);
    return this.io;
  }

  abandon(): void {
    if (this.io !== undefined) this.io.release();
    else BlkfrontDataPath.destroyQueues(this.built, []);
  }
}
