import test from 'ava';
import type { ImageDriver, TdRequest } from '../../src/tapdisk/api.js';
import { openRamDriver, vbdOver } from './drivers-for-tests.js';
import { seededWorkload, submit } from './helpers.js';

/**
 * A device that runs whatever it holds in a random order on every tick: the scheduler alone must
 * keep overlapping requests in queue order. Every read is checked against a sequential model of
 * the disk at the read's position in the queue.
 */
class ShufflingDriver implements ImageDriver {
  private held: TdRequest[] = [];
  private timer: NodeJS.Immediate | null = null;

  constructor(private readonly inner: ImageDriver, private readonly rand: (n: number) => number) {}

  get info() {
    return this.inner.info;
  }

  queue(req: TdRequest): void {
    this.held.push(req);
    this.timer ??= setImmediate(() => this.run());
  }

  private run(): void {
    this.timer = null;
    const batch = this.held;
    this.held = [];
    for (let i = batch.length - 1; i > 0; i--) {
      const j = this.rand(i + 1);
      [batch[i], batch[j]] = [batch[j]!, batch[i]!];
    }
    // Run only some of them now; the rest wait for a later tick.
    for (const r of batch) {
      if (this.rand(3) === 0) this.queue(r);
      else this.inner.queue(r);
    }
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

test('random overlapping reads, writes, discards and flushes complete as if run in order', async (t) => {
  const requestsMax = 400;
  const { seed, tapdisk, work } = seededWorkload(t, requestsMax);
  const inner = await openRamDriver(tapdisk, `ram:32K?id=${seed}`);
  const vbd = vbdOver(new ShufflingDriver(inner, (n) => work.rand(n)), { depthMax: 16 });
  const checks: Promise<void>[] = [];
  for (let n = 0; n < requestsMax; n++) {
    const { req, check } = work.next(n);
    checks.push(submit(vbd, req).then(check));
    // Bursts of varying size, as a ring delivers them.
    if (work.rand(8) === 0) await new Promise((r) => setImmediate(r));
  }
  await Promise.all(checks);
  const stats = vbd.stats();
  t.is(stats.read.requests + stats.write.requests + stats.flush.requests + stats.discard.requests, requestsMax);
  t.log(`merges ${stats.merges}`);
});
