import type { AioContext } from '../native/api.js';
import { SplitblkError } from '../util/errors.js';
import type { CopyCounter, DriverEnv, ImageDriver, RegionRegistry } from './api.js';
import { systemClock, type Clock } from './clock.js';
import { claimMinor, readDatapaths, removeDatapath, writeDatapath, type DatapathEntry } from './control/datapaths.js';
import { ControlServer, type ControlServerOptions } from './control/server.js';
import { ERR_DEVICE_BUSY, ERR_NO_VBD } from './errors.js';
import { AioFileIo } from './fileio.js';
import { openImage } from './registry.js';
import { Scheduler } from './scheduler.js';
import { defaultVbdLimits, Vbd, type VbdLimits } from './vbd.js';

export interface TapdiskDeps {
  /** The process's native AIO context (file drivers need it); null for null:/ram: only. */
  aio: AioContext | null;
  clock?: Clock;
  /**
   * `<rundir>/tapdisk/registry`: when set, minors are allocated there (unique across processes)
   * and every VBD is recorded for the data-path registry. Otherwise minors are per process.
   */
  registryDir?: string;
  /** Defaults for every VBD's limits. */
  limits?: Partial<VbdLimits>;
  /** Requests one VBD may dispatch per round-robin turn. */
  quantum?: number;
}

export interface VbdOpenOptions {
  /** The guest domain and virtual device (devid) the VBD serves; null when not attached. */
  domid?: number | null;
  device?: number | null;
  readonly?: boolean;
  /** Open files with O_DIRECT. */
  direct?: boolean;
  limits?: Partial<VbdLimits>;
}

const EMPTY = new Uint8Array(0);

/**
 * The tapdisk core of one backend process: its VBDs, the memory regions their requests point
 * into, the shared scheduler and file I/O, and optionally a control socket. blkback creates one
 * per process, registers each mapping of granted pages with registerRegion(), opens a VBD per
 * device and queues requests on it.
 */
export class Tapdisk {
  /** Native file I/O shared by every VBD of the process (null without an AIO context). */
  readonly io: AioFileIo | null;
  readonly clock: Clock;
  private readonly aio: AioContext | null;
  private readonly registryDir: string | undefined;
  private readonly limits: VbdLimits;
  private readonly scheduler: Scheduler;
  /**
   * Region id -> view, indexed directly: drivers that touch bytes (null:, ram:) look a view up
   * for every segment, and an array load costs a fraction of a Map lookup. Ids are small and
   * reused (the native context hands out the lowest free ones; without it, `freeIds` does), so
   * the array stays as large as the most regions registered at once. Unused entries hold EMPTY
   * rather than holes, which keeps the array's elements packed.
   */
  private readonly views: Uint8Array[] = [];
  private readonly freeIds: number[] = [];
  private nextRegion = 1;
  private readonly byMinor = new Map<number, Vbd>();
  private readonly store = new Map<string, unknown>();
  private server: ControlServer | null = null;
  private socketPathValue: string | null = null;

  /** Region ids to views, for drivers that touch bytes (ram, vhd metadata). */
  readonly regions: RegionRegistry = {
    view: (region) => (region >= 0 && region < this.views.length ? this.views[region]! : EMPTY),
    register: (buffer) => this.registerRegion(buffer),
    unregister: (region) => this.unregisterRegion(region),
  };

  constructor(deps: TapdiskDeps) {
    this.aio = deps.aio;
    this.io = deps.aio ? new AioFileIo(deps.aio) : null;
    this.clock = deps.clock ?? systemClock;
    this.registryDir = deps.registryDir;
    this.limits = { ...defaultVbdLimits, ...deps.limits };
    this.scheduler = new Scheduler(deps.quantum ?? 32);
  }

  /** The control socket's path once listen() has run. */
  get socketPath(): string | null {
    return this.socketPathValue;
  }

  /** Make `buffer` addressable by requests' segments; returns the region id. */
  registerRegion(buffer: ArrayBuffer): number {
    const id = this.aio ? this.aio.registerRegion(buffer) : (this.freeIds.pop() ?? this.nextRegion++);
    while (this.views.length <= id) this.views.push(EMPTY);
    this.views[id] = new Uint8Array(buffer);
    return id;
  }

  /** Forget a region. No request in flight may still point into it. */
  unregisterRegion(region: number): void {
    if (!(region >= 0 && region < this.views.length) || this.views[region] === EMPTY) return;
    this.views[region] = EMPTY;
    if (this.aio) this.aio.unregisterRegion(region);
    else this.freeIds.push(region);
  }

  /** Open `type:/path` as a new VBD. Throws SplitblkErrors (see errors.ts) if it cannot. */
  async open(spec: string, opts: VbdOpenOptions = {}): Promise<Vbd> {
    const domid = opts.domid ?? null;
    const device = opts.device ?? null;
    if (domid !== null && device !== null && this.deviceTaken(domid, device)) {
      throw new SplitblkError(ERR_DEVICE_BUSY, `domain ${domid} device ${device} already has a VBD`, { domid, devid: device });
    }
    const limits = { ...this.limits, ...opts.limits };
    const copies: CopyCounter = { bytesCopied: 0 };
    const env = this.driverEnv(copies, limits.depthMax);
    const openOpts = { readonly: opts.readonly ?? false, direct: opts.direct ?? false };
    const driver = await openImage(spec, openOpts, env);
    let minor: number;
    try {
      minor = this.allocateMinor(spec, driver, domid, device);
    } catch (error) {
      await driver.close();
      throw error;
    }
    const vbd = new Vbd({
      minor, domid, device, spec, readonly: openOpts.readonly, driver,
      open: (text) => openImage(text, openOpts, env),
      scheduler: this.scheduler, clock: this.clock, limits, copies,
      onChange: (v) => this.record(v),
    });
    this.byMinor.set(minor, vbd);
    return vbd;
  }

  /** Whether a VBD of this process, or of any live process in the registry, serves the device. */
  private deviceTaken(domid: number, device: number): boolean {
    if (this.findVbd(domid, device)) return true;
    if (this.registryDir === undefined) return false;
    return readDatapaths(this.registryDir).some((e) => e.domid === domid && e.device === device);
  }

  private driverEnv(copies: CopyCounter, depthMax: number): DriverEnv {
    const env: DriverEnv = {
      regions: this.regions,
      io: this.io,
      copies,
      depthMax,
      store: this.store,
      openImage: (text, o) => openImage(text, o, env),
    };
    return env;
  }

  private allocateMinor(spec: string, driver: ImageDriver, domid: number | null, device: number | null): number {
    if (this.registryDir === undefined) {
      let minor = 0;
      while (this.byMinor.has(minor)) minor++;
      return minor;
    }
    return claimMinor(this.registryDir, {
      pid: process.pid, socket: this.socketPathValue, domid, device, spec, chain: driver.info.chain, state: 'running',
    });
  }

  /** Keep the data-path registry entry of `vbd` current. */
  private record(vbd: Vbd): void {
    if (this.registryDir === undefined || !this.byMinor.has(vbd.minor)) return;
    writeDatapath(this.registryDir, this.entry(vbd));
  }

  private entry(vbd: Vbd): DatapathEntry {
    return {
      minor: vbd.minor, pid: process.pid, socket: this.socketPathValue, domid: vbd.domid, device: vbd.device,
      spec: vbd.spec, chain: vbd.info.chain, state: vbd.state,
    };
  }

  vbd(minor: number): Vbd | undefined {
    return this.byMinor.get(minor);
  }

  /** The VBD, or SPLITBLK_ERR_NO_VBD. */
  require(minor: number): Vbd {
    const vbd = this.byMinor.get(minor);
    if (vbd === undefined) throw new SplitblkError(ERR_NO_VBD, `no VBD with minor ${minor}`, { minor });
    return vbd;
  }

  vbds(): Vbd[] {
    return [...this.byMinor.values()].sort((a, b) => a.minor - b.minor);
  }

  findVbd(domid: number, device: number): Vbd | undefined {
    for (const v of this.byMinor.values()) if (v.domid === domid && v.device === device) return v;
    return undefined;
  }

  /** Close a VBD (finishing its queued requests) and free its minor. */
  async destroy(minor: number): Promise<void> {
    const vbd = this.require(minor);
    await vbd.close();
    this.byMinor.delete(minor);
    if (this.registryDir !== undefined) removeDatapath(this.registryDir, minor, process.pid);
  }

  /** Serve the control plane on a unix socket at `socketPath` (see docs/tapdisk.md). */
  async listen(socketPath: string, opts: ControlServerOptions = {}): Promise<void> {
    const server = new ControlServer(this, opts);
    await server.listen(socketPath);
    this.server = server;
    this.socketPathValue = socketPath;
    for (const vbd of this.byMinor.values()) this.record(vbd);
  }

  /** Destroy every VBD and stop the control server. The AIO context stays the caller's. */
  async close(): Promise<void> {
    for (const minor of [...this.byMinor.keys()]) await this.destroy(minor);
    await this.server?.close();
    this.server = null;
  }
}
