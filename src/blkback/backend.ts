/**
 * The xenbus backend driver for vbd devices: one watch on /local/domain/0/backend/vbd, a probe
 * for each new device directory, and a VbdDevice per device. The toolstack owns the directories;
 * a device appears when its directory has `frontend` and `params` and online=1, and goes away
 * when the directory is removed or the device is detached (online=0 and closed).
 */
import type { XsWatch } from '../xenstore-sim/client/api.js';
import { XS_WATCH_OVERFLOW } from '../xenstore-sim/client/errors.js';
import { BackendKey, VBD_BACKEND_ROOT } from './keys.js';
import { VbdDevice, type DeviceDeps, type DeviceStats } from './device.js';
import { BackendEvent } from './transitions.js';

const DECIMAL = /^\d{1,10}$/;

export class Blkback {
  private readonly devices = new Map<string, VbdDevice>();
  private watch: XsWatch | undefined;
  private loop: Promise<void> | undefined;
  private stopping = false;

  constructor(private readonly deps: DeviceDeps, private readonly root: string = VBD_BACKEND_ROOT) {}

  /** Register the watch; the first event (registration) probes every existing device. */
  async start(): Promise<void> {
    const first = await this.deps.xs.watch(this.root, 'blkback');
    this.loop = this.serve(first);
  }

  /**
   * Consume watch events. A watch whose buffer overflowed (a burst of writes faster than we
   * probe) is registered again; its registration event rescans everything, so nothing is lost.
   */
  private async serve(first: XsWatch): Promise<void> {
    let watch: XsWatch | undefined = first;
    while (watch !== undefined && !this.stopping) {
      this.watch = watch;
      try {
        for await (const event of watch) {
          if (this.stopping) break;
          await this.onPath(event.path).catch((error: unknown) => this.deps.log(`blkback: ${event.path}: ${(error as Error).message}`));
        }
        return;
      } catch (error) {
        if (this.stopping) return;
        this.deps.log(`blkback: watch ended: ${(error as Error).message}`);
        if ((error as { code?: string }).code !== XS_WATCH_OVERFLOW) return;
      }
      watch = await this.deps.xs.watch(this.root, 'blkback').catch((error: unknown) => {
        this.deps.log(`blkback: cannot watch ${this.root} again: ${(error as Error).message}`);
        return undefined;
      });
    }
  }

  /** Every device, for `splitblk tap stats` and tests. */
  list(): VbdDevice[] {
    return [...this.devices.values()];
  }

  device(domid: number, devid: number): VbdDevice | undefined {
    return this.devices.get(`${domid}/${devid}`);
  }

  stats(): DeviceStats[] {
    return this.list().map((d) => d.stats());
  }

  /** Publish a new size for a device (the image grew or shrank). */
  resize(domid: number, devid: number, sectors: number): Promise<void> {
    return this.device(domid, devid)?.resize(sectors) ?? Promise.resolve();
  }

  /** Stop watching; every device disconnects, publishes Closed and closes its image. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.watch?.close();
    await this.loop;
    await Promise.all(this.list().map((d) => d.shutdown()));
  }

  private async onPath(path: string): Promise<void> {
    if (path !== this.root && !path.startsWith(`${this.root}/`)) return;
    const rel = path === this.root ? [] : path.slice(this.root.length + 1).split('/');
    if (rel.length === 0) return this.rescan();
    const [domidText, devidText, key] = rel;
    if (!DECIMAL.test(domidText!)) return;
    if (devidText === undefined) return this.rescanDomain(Number(domidText));
    if (!DECIMAL.test(devidText)) return;
    const domid = Number(domidText);
    const devid = Number(devidText);
    const device = this.device(domid, devid);
    if (device === undefined) return this.probe(domid, devid);
    if (key === undefined) return this.checkGone(device);
    if (key === BackendKey.online && rel.length === 3) return device.onlineChanged();
  }

  private async rescan(): Promise<void> {
    for (const domidText of await this.directory(this.root)) {
      if (DECIMAL.test(domidText)) await this.rescanDomain(Number(domidText));
    }
  }

  private async rescanDomain(domid: number): Promise<void> {
    const present = new Set(await this.directory(`${this.root}/${domid}`));
    for (const device of this.list()) {
      if (device.domid === domid && !present.has(String(device.devid))) await this.checkGone(device);
    }
    for (const devidText of present) {
      if (DECIMAL.test(devidText) && this.device(domid, Number(devidText)) === undefined) await this.probe(domid, Number(devidText));
    }
  }

  private async directory(path: string): Promise<string[]> {
    try {
      return await this.deps.xs.directory(path);
    } catch {
      return [];
    }
  }

  private async checkGone(device: VbdDevice): Promise<void> {
    if ((await this.deps.xs.readString(`${device.path}/${BackendKey.frontend}`)) !== undefined) return;
    await device.post(BackendEvent.BackendGone);
  }

  /** Start a device whose directory is complete and online (never one being torn down). */
  private async probe(domid: number, devid: number): Promise<void> {
    const path = `${this.root}/${domid}/${devid}`;
    const xs = this.deps.xs;
    if ((await xs.readString(`${path}/${BackendKey.frontend}`)) === undefined) return;
    if ((await xs.readString(`${path}/${BackendKey.params}`)) === undefined) return;
    if ((await xs.readString(`${path}/${BackendKey.online}`))?.trim() !== '1') return;
    if (this.stopping || this.device(domid, devid) !== undefined) return;
    const device = new VbdDevice(path, domid, devid, this.deps, (d) => {
      if (this.devices.get(`${domid}/${devid}`) === d) this.devices.delete(`${domid}/${devid}`);
    });
    this.devices.set(`${domid}/${devid}`, device);
    this.deps.log(`vbd ${domid}/${devid}: probe`);
    await device.start();
  }
}
