import { TdStatus, type CopyCounter, type ImageDriver, type TdRequest } from '../../src/tapdisk/api.js';
import { systemClock } from '../../src/tapdisk/clock.js';
import { openImage } from '../../src/tapdisk/registry.js';
import type { Tapdisk } from '../../src/tapdisk/tapdisk.js';
import { Scheduler } from '../../src/tapdisk/scheduler.js';
import { defaultVbdLimits, Vbd, type VbdLimits } from '../../src/tapdisk/vbd.js';

/**
 * Fault injection around a real driver: requests are held at the driver and passed on only
 * when the test says so, in the order it says, so tests can see what the scheduler let through
 * and reorder execution the way a real device may.
 */
export class HoldingDriver implements ImageDriver {
  held: TdRequest[] = [];
  /** Every request that reached this driver, in arrival order (copied: requests are reused). */
  log: { op: number; sector: number; sectors: number }[] = [];
  late = 0;

  constructor(readonly inner: ImageDriver) {}

  get info() {
    return this.inner.info;
  }

  queue(req: TdRequest): void {
    this.held.push(req);
    this.log.push({ op: req.op, sector: req.sector, sectors: req.sectors });
  }

  /** Execute the held requests on the real driver, newest first (the worst legal order). */
  releaseReversed(): number {
    const batch = this.held.reverse();
    this.held = [];
    for (const r of batch) this.inner.queue(r);
    return batch.length;
  }

  /** Complete every held request with `status` without running it. */
  completeAll(status: TdStatus): void {
    const batch = this.held;
    this.held = [];
    for (const r of batch) {
      this.late++;
      r.done(r, status, 0);
    }
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

/** A driver that keeps releasing in reverse order on every tick until stopped. */
export function autoReverse(d: HoldingDriver): () => void {
  let on = true;
  const tick = () => {
    if (!on) return;
    d.releaseReversed();
    setImmediate(tick);
  };
  setImmediate(tick);
  return () => { on = false; };
}

export function vbdOver(driver: ImageDriver, limits: Partial<VbdLimits> = {}, scheduler = new Scheduler()): Vbd {
  const copies: CopyCounter = { bytesCopied: 0 };
  return new Vbd({
    minor: 0, domid: null, device: null, spec: 'test:', readonly: false, driver,
    open: async () => driver, scheduler, clock: systemClock,
    limits: { ...defaultVbdLimits, ...limits }, copies,
  });
}

/** A ram: image opened through the registry, as the real driver below a test's wrapper. */
export function openRamDriver(tapdisk: Tapdisk, spec = 'ram:1M'): Promise<ImageDriver> {
  return openImage(spec, {}, {
    regions: tapdisk.regions, io: null, copies: { bytesCopied: 0 }, depthMax: 64, store: new Map(),
    openImage: () => Promise.reject(new Error('no parents')),
  });
}
