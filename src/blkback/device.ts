/**
 * One vbd as a xenbus backend device: it reads the toolstack's nodes, opens the image through
 * tapdisk, publishes features, follows the frontend's state and runs the transition table
 * (transitions.ts), performing each row's action. Events are applied one at a time, in order,
 * through a promise chain, so no two actions of one device ever overlap.
 */
import type { EventChannels, GrantMapper } from '../hypervisor/api.js';
import type { ImageInfo, TdRequest } from '../tapdisk/api.js';
import type { XsClient, XsOps } from '../xenstore-sim/client/api.js';
import { isXsErrno, XS_WATCH_OVERFLOW } from '../xenstore-sim/client/errors.js';
import {
  XenbusState,
  formatXenbusState,
  switchState,
  watchXenbusState,
  xenbusStateName,
  type XenbusStateWatch,
} from '../xenstore-sim/xenbus/index.js';
import { parseBackendConfig, type BackendConfig } from './backend-config.js';
import { parseFrontendConfig } from './frontend-config.js';
import { BackendKey, FeatureKey } from './keys.js';
import { codecForProtocol } from './protocol/codec.js';
import { VDISK_CDROM, VDISK_READONLY, VDISK_REMOVABLE } from './protocol/ops.js';
import { RingQueue, type DiskPort } from './ring-queue.js';
import { RingCounters, snapshotVbd, type RingStats } from './stats.js';
import { BackendAction, BackendEvent, transition } from './transitions.js';
import type { VbdCaps } from './validate.js';

/** An open VBD as blkback uses it (tapdisk's Vbd has this shape). */
export interface BlkbackDisk {
  readonly minor: number;
  readonly info: ImageInfo;
  readonly accepting: boolean;
  queue(req: TdRequest): void;
  /** Queue, or run at once when the disk can complete it inside the call (tapdisk's Vbd). */
  queueNow?(req: TdRequest): void;
  onResume(cb: () => void): () => void;
  /** Report our ring counters with the VBD's own (tapdisk's control plane, `tap stats`). */
  attachStats?(source: (() => { total: RingStats; rings: RingStats[] }) | null): void;
}

/** Opens and closes VBDs and registers memory for their I/O (tapdisk's Tapdisk, adapted). */
export interface DiskHost {
  open(spec: string, opts: { domid: number; device: number; readonly: boolean }): Promise<BlkbackDisk>;
  close(disk: BlkbackDisk): Promise<void>;
  registerRegion(buffer: ArrayBuffer): number;
  unregisterRegion(region: number): void;
}

/** What this backend offers; the defaults are in docs/blkback.md. */
export interface BackendLimits {
  queuesMax: number;
  ringPageOrderMax: number;
  /** feature-max-indirect-segments: 4096 is the full 8 indirect pages of 512 segments. */
  indirectSegmentsMax: number;
  /** Offer feature-persistent. */
  persistent: boolean;
  /** Persistent grants cached per ring. */
  persistentGrantsMax: number;
  indirectTablesMax: number;
  requestsPerEventMax: number;
  spuriousStormMin: number;
  /** After online=0, force the device Closed if the frontend has not closed by then. */
  detachTimeoutMs: number;
  /** discard-granularity in bytes. */
  discardGranularity: number;
}

export const defaultBackendLimits: BackendLimits = {
  queuesMax: 4,
  ringPageOrderMax: 4,
  indirectSegmentsMax: 4096,
  persistent: true,
  persistentGrantsMax: 1056,
  indirectTablesMax: 64,
  requestsPerEventMax: 128,
  spuriousStormMin: 64,
  detachTimeoutMs: 5000,
  discardGranularity: 4096,
};

export interface DeviceDeps {
  xs: XsClient;
  grants: GrantMapper;
  evtchn: EventChannels;
  disks: DiskHost;
  limits: BackendLimits;
  log: (line: string) => void;
}

interface EventArg {
  front?: XenbusState;
  message?: string;
}

export interface DeviceStats {
  domid: number;
  devid: number;
  state: string;
  'frontend-state': string;
  minor: number | null;
  queues: number;
  'ring-pages': number;
  persistent: boolean;
  'persistent-grants': number;
  'in-flight': number;
  total: RingStats;
  rings: RingStats[];
}

export class VbdDevice {
  back = XenbusState.Unknown;
  front = XenbusState.Unknown;
  online = true;
  removed = false;
  private config: BackendConfig | undefined;
  private disk: BlkbackDisk | undefined;
  private caps: VbdCaps | undefined;
  private rings: RingQueue[] = [];
  private ringPages = 0;
  /** Counters per queue index, kept across reconnects. */
  private readonly counters: RingCounters[] = [];
  private chain: Promise<void> = Promise.resolve();
  private frontWatch: XenbusStateWatch | undefined;
  private detachTimer: NodeJS.Timeout | undefined;

  constructor(
    /** The backend directory, /local/domain/0/backend/vbd/<domid>/<devid>. */
    readonly path: string,
    readonly domid: number,
    readonly devid: number,
    private readonly deps: DeviceDeps,
    private readonly onRemoved: (device: VbdDevice) => void,
  ) {}

  /** Probe: read the toolstack's nodes, open the image, publish InitWait features. */
  start(): Promise<void> {
    return this.enqueue(() => this.probe());
  }

  /** Feed an event into the table (after every event already posted). */
  post(event: BackendEvent, arg: EventArg = {}): Promise<void> {
    return this.enqueue(() => this.apply(event, arg));
  }

  /** The toolstack's online node changed. */
  async onlineChanged(): Promise<void> {
    const text = await this.deps.xs.readString(`${this.path}/online`);
    const online = text !== undefined && text.trim() !== '0' && text.trim() !== '';
    if (online === this.online) return;
    if (!online) await this.post(BackendEvent.OnlineOff);
    else this.online = true;
  }

  /** The image changed size: publish it (now if connected, else at the next connect). */
  resize(sectors: number): Promise<void> {
    if (this.caps !== undefined) this.caps.sectors = sectors;
    return this.post(BackendEvent.Resized);
  }

  /** Process shutdown: disconnect, publish Closed, close the image. */
  shutdown(): Promise<void> {
    return this.enqueue(async () => {
      if (this.removed) return;
      await this.remove(XenbusState.Closed);
    });
  }

  stats(): DeviceStats {
    const rings = snapshotVbd(this.counters);
    return {
      domid: this.domid,
      devid: this.devid,
      state: xenbusStateName(this.back),
      'frontend-state': xenbusStateName(this.front),
      minor: this.disk?.minor ?? null,
      queues: this.rings.length,
      'ring-pages': this.ringPages,
      persistent: this.rings.some((r) => r.persistent),
      'persistent-grants': this.rings.reduce((n, r) => n + r.persistentGrants, 0),
      'in-flight': this.rings.reduce((n, r) => n + r.inFlight, 0),
      total: rings.total,
      rings: rings.rings,
    };
  }

  private enqueue(step: () => Promise<void>): Promise<void> {
    const next = this.chain.then(step).catch((error: unknown) => {
      this.deps.log(`vbd ${this.domid}/${this.devid}: ${(error as Error).stack ?? String(error)}`);
    });
    this.chain = next;
    return next;
  }

  private async probe(): Promise<void> {
    const { xs } = this.deps;
    // A new driver instance starts from Initialising whatever an earlier backend left there.
    this.back = XenbusState.Initialising;
    const cfg = await parseBackendConfig((key) => xs.readString(`${this.path}/${key}`));
    if (!cfg.ok) return this.apply(BackendEvent.Fatal, { message: cfg.error.message });
    this.config = cfg.value;
    this.online = cfg.value.online;
    try {
      this.disk = await this.deps.disks.open(cfg.value.spec, { domid: this.domid, device: this.devid, readonly: cfg.value.readonly });
    } catch (error) {
      return this.apply(BackendEvent.Fatal, { message: `opening ${cfg.value.spec}: ${(error as Error).message}` });
    }
    this.caps = this.capsOf(cfg.value, this.disk.info);
    this.disk.attachStats?.(() => snapshotVbd(this.counters));
    await this.publishInitWait();
    await this.apply(BackendEvent.Probed, {});
    if (!this.removed) await this.watchFrontend(cfg.value.frontendPath);
  }

  private capsOf(cfg: BackendConfig, info: ImageInfo): VbdCaps {
    const readonly = cfg.readonly || info.readonly;
    return {
      sectors: info.sectors,
      readonly,
      indirectSegmentsMax: this.deps.limits.indirectSegmentsMax,
      flush: !readonly,
      barrier: !readonly,
      discard: !readonly && info.discard && cfg.discardEnable,
      discardSecure: false,
    };
  }

  /**
   * Follow the frontend's `state` node. A watch that overflowed (a frontend rewriting its state
   * faster than we keep up) is registered again; its first value is the current state.
   */
  private async watchFrontend(frontendPath: string): Promise<void> {
    const path = `${frontendPath}/state`;
    this.frontWatch = await watchXenbusState(this.deps.xs, path, { distinct: false });
    void (async () => {
      while (!this.removed && this.frontWatch !== undefined) {
        try {
          for await (const state of this.frontWatch) {
            if (this.removed) return;
            void this.post(BackendEvent.FrontendChanged, { front: state ?? XenbusState.Unknown });
          }
          return;
        } catch (error) {
          if (this.removed) return;
          this.deps.log(`vbd ${this.domid}/${this.devid}: frontend watch ended: ${(error as Error).message}`);
          if ((error as { code?: string }).code !== XS_WATCH_OVERFLOW) return;
        }
        this.frontWatch = await watchXenbusState(this.deps.xs, path, { distinct: false }).catch(() => undefined);
      }
    })();
  }

  /** Run the table for `event` and perform the action. */
  private async apply(event: BackendEvent, arg: EventArg): Promise<void> {
    if (this.removed) return;
    if (arg.front !== undefined) this.front = arg.front;
    if (event === BackendEvent.OnlineOff) this.online = false;
    const { action, next } = transition(this.back, this.front, this.online, event);
    if (action !== BackendAction.None || next !== undefined) {
      this.deps.log(
        `vbd ${this.domid}/${this.devid}: ${event} (backend ${xenbusStateName(this.back)}, frontend ${xenbusStateName(this.front)}) -> ${action}` +
          (next === undefined ? '' : `, ${xenbusStateName(next)}`) +
          (arg.message === undefined ? '' : `: ${arg.message}`),
      );
    }
    switch (action) {
      case BackendAction.None:
      case BackendAction.PublishFeatures:
        break;
      case BackendAction.Connect: {
        const failure = await this.connect();
        if (failure !== undefined) return this.apply(BackendEvent.Fatal, { message: failure });
        break;
      }
      case BackendAction.Disconnect:
        await this.disconnect();
        break;
      case BackendAction.Fail:
        await this.writeError(arg.message ?? 'fatal error');
        await this.disconnect();
        break;
      case BackendAction.Resize:
        await this.publishResize();
        return;
      case BackendAction.Remove:
        return this.remove(next);
    }
    if (next !== undefined) await this.setState(next);
    if (event === BackendEvent.OnlineOff) this.armDetachTimer();
  }

  private armDetachTimer(): void {
    if (this.detachTimer !== undefined) return;
    this.detachTimer = setTimeout(() => {
      this.detachTimer = undefined;
      void this.post(BackendEvent.DetachTimeout);
    }, this.deps.limits.detachTimeoutMs);
  }

  private async setState(state: XenbusState): Promise<void> {
    try {
      await switchState(this.deps.xs, `${this.path}/state`, state);
    } catch (error) {
      // The toolstack removed the directory: nothing to publish to.
      if (!isXsErrno(error, 'ENOENT')) throw error;
    }
    this.back = state;
  }

  private async writeError(message: string): Promise<void> {
    try {
      await this.deps.xs.write(`${this.path}/${FeatureKey.error}`, message);
    } catch (error) {
      this.deps.log(`vbd ${this.domid}/${this.devid}: cannot write error node: ${(error as Error).message}`);
    }
  }

  private async publishInitWait(): Promise<void> {
    const l = this.deps.limits;
    await this.writeKeys({
      [FeatureKey.maxIndirectSegments]: l.indirectSegmentsMax,
      [FeatureKey.multiQueueMaxQueues]: l.queuesMax,
      [FeatureKey.maxRingPageOrder]: l.ringPageOrderMax,
    });
  }

  private async writeKeys(keys: Record<string, number | string>, extra?: (tx: XsOps) => Promise<void>): Promise<void> {
    const base = this.path;
    await this.deps.xs.transaction(async (tx) => {
      // Never recreate a directory the toolstack removed.
      if ((await tx.readString(`${base}/${BackendKey.frontend}`)) === undefined) return;
      for (const [k, v] of Object.entries(keys)) await tx.write(`${base}/${k}`, String(v));
      if (extra !== undefined) await extra(tx);
    });
  }

  /** Re-read every frontend key, map the rings, publish the device properties (Linux connect()). */
  private async connect(): Promise<string | undefined> {
    const cfg = this.config!;
    const caps = this.caps!;
    const l = this.deps.limits;
    await this.disconnect();
    const fe = await this.deps.xs.transaction((tx) =>
      parseFrontendConfig((key) => tx.readString(`${cfg.frontendPath}/${key}`), { ringPageOrderMax: l.ringPageOrderMax, queuesMax: l.queuesMax }),
    );
    if (!fe.ok) return fe.error.message;
    const codec = codecForProtocol(fe.value.protocol)!;
    const persistent = l.persistent && fe.value.persistent;
    const disk = this.disk!;
    const disks = this.deps.disks;
    const port: DiskPort = {
      queue: (req) => disk.queue(req),
      ...(disk.queueNow !== undefined ? { queueNow: (req: TdRequest) => disk.queueNow!(req) } : {}),
      get accepting() {
        return disk.accepting;
      },
      onResume: (cb) => disk.onResume(cb),
      registerRegion: (buffer) => disks.registerRegion(buffer),
      unregisterRegion: (region) => disks.unregisterRegion(region),
    };
    try {
      fe.value.queues.forEach((q, i) => {
        this.counters[i] ??= new RingCounters();
        this.rings.push(
          RingQueue.connect(q, {
            domid: cfg.frontendId,
            codec,
            grants: this.deps.grants,
            evtchn: this.deps.evtchn,
            disk: port,
            caps,
            persistentGrantsMax: persistent ? l.persistentGrantsMax : 0,
            indirectTablesMax: l.indirectTablesMax,
            requestsPerEventMax: l.requestsPerEventMax,
            spuriousStormMin: l.spuriousStormMin,
            counters: this.counters[i]!,
            onFatal: (message) => void this.post(BackendEvent.Fatal, { message: `queue ${i}: ${message}` }),
          }),
        );
      });
    } catch (error) {
      await this.disconnect();
      return (error as Error).message;
    }
    this.ringPages = 1 << fe.value.ringPageOrder;
    await this.publishConnected();
    return undefined;
  }

  private async publishConnected(): Promise<void> {
    const cfg = this.config!;
    const caps = this.caps!;
    const info = this.disk!.info;
    const keys: Record<string, number> = {
      [FeatureKey.flushCache]: caps.flush ? 1 : 0,
      [FeatureKey.barrier]: caps.barrier ? 1 : 0,
      [FeatureKey.discard]: caps.discard ? 1 : 0,
      [FeatureKey.persistent]: this.deps.limits.persistent ? 1 : 0,
      [FeatureKey.sectors]: caps.sectors,
      [FeatureKey.sectorSize]: info.sectorSize,
      [FeatureKey.physicalSectorSize]: info.physicalSectorSize,
      [FeatureKey.info]: (caps.readonly ? VDISK_READONLY : 0) | (cfg.cdrom ? VDISK_CDROM : 0) | (cfg.removable ? VDISK_REMOVABLE : 0),
      [FeatureKey.tapdiskMinor]: this.disk!.minor,
    };
    if (caps.discard) {
      keys[FeatureKey.discardGranularity] = this.deps.limits.discardGranularity;
      keys[FeatureKey.discardAlignment] = 0;
      keys[FeatureKey.discardSecure] = caps.discardSecure ? 1 : 0;
    }
    await this.writeKeys(keys);
  }

  /** Rewrite `sectors`, then `state` (same value), so the frontend's state watch fires. */
  private async publishResize(): Promise<void> {
    await this.writeKeys({ [FeatureKey.sectors]: this.caps!.sectors }, async (tx) => {
      await tx.write(`${this.path}/state`, formatXenbusState(this.back));
    });
  }

  /** Tear the rings down once their requests finish. Idempotent. */
  private async disconnect(): Promise<void> {
    const rings = this.rings;
    this.rings = [];
    await Promise.all(rings.map((r) => r.disconnect()));
  }

  private async remove(next: XenbusState | undefined): Promise<void> {
    if (this.detachTimer !== undefined) clearTimeout(this.detachTimer);
    this.detachTimer = undefined;
    await this.disconnect();
    if (next !== undefined) await this.setState(next);
    this.removed = true;
    // The final counters, one JSON line, for operators and tests (tapdisk's control plane
    // reports only the VBD's own counters).
    this.deps.log(`vbd ${this.domid}/${this.devid}: final stats ${JSON.stringify(this.stats().total)}`);
    await this.frontWatch?.close().catch(() => undefined);
    if (this.disk !== undefined) {
      const disk = this.disk;
      this.disk = undefined;
      disk.attachStats?.(null);
      await this.deps.disks.close(disk).catch((error: unknown) => this.deps.log(`vbd ${this.domid}/${this.devid}: close: ${(error as Error).message}`));
    }
    this.onRemoved(this);
  }
}
