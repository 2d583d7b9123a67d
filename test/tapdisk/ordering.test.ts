import test from 'ava';
import { TdOp, TdStatus, type ImageDriver, type TdRequest } from '../../src/tapdisk/api.js';
import { openImage } from '../../src/tapdisk/registry.js';
import { Tapdisk } from '../../src/tapdisk/tapdisk.js';
import { vbdOver } from './drivers-for-tests.js';
import { makeRequest, setRequest, submit } from './helpers.js';

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
  const seed = Number(process.env['SPLITBLK_SEED'] ?? Date.now() % 1_000_000);
  t.log(`seed ${seed} (set SPLITBLK_SEED to replay)`);
  let state = seed;
  const rand = (n: number) => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return (state >>> 8) % n;
  };
  const tapdisk = new Tapdisk({ aio: null });
  t.teardown(() => tapdisk.close());
  const requestsMax = 400;
  const memory = new Uint8Array(requestsMax * 4096);
  const region = tapdisk.registerRegion(memory.buffer);
  const inner = await openImage(`ram:32K?id=${seed}`, {}, {
    regions: tapdisk.regions, io: null, copies: { bytesCopied: 0 }, depthMax: 64, store: new Map(),
    openImage: () => Promise.reject(new Error('no parents')),
  });
  const vbd = vbdOver(new ShufflingDriver(inner, rand), { depthMax: 16 });
  const model = new Uint8Array(32 * 1024);
  const checks: Promise<void>[] = [];
  for (let n = 0; n < requestsMax; n++) {
    const roll = rand(20);
    const op = roll < 9 ? TdOp.Write : roll < 18 ? TdOp.Read : roll < 19 ? TdOp.Discard : TdOp.Flush;
    const sectors = 1 + rand(8);
    const sector = rand(64 - sectors);
    const at = n * 4096;
    const req = setRequest(makeRequest(2), op, sector, sectors, region, at);
    const bytes = sectors * 512;
    if (op === TdOp.Write) {
      for (let k = 0; k < bytes; k++) memory[at + k] = (n * 7 + k) & 0xff;
      model.set(memory.subarray(at, at + bytes), sector * 512);
    } else if (op === TdOp.Discard) {
      model.fill(0, sector * 512, sector * 512 + bytes);
    }
    const expected = op === TdOp.Read ? model.slice(sector * 512, sector * 512 + bytes) : null;
    checks.push(submit(vbd, req).then((r) => {
      if (r.status !== TdStatus.Ok) throw new Error(`request ${n} failed`);
      if (expected && !Buffer.from(memory.subarray(at, at + bytes)).equals(expected)) {
        throw new Error(`read ${n} of sectors ${sector}+${sectors} saw the wrong data`);
      }
    }));
    // Bursts of varying size, as a ring delivers them.
    if (rand(8) === 0) await new Promise((r) => setImmediate(r));
  }
  await Promise.all(checks);
  const stats = vbd.stats();
  t.is(stats.read.requests + stats.write.requests + stats.flush.requests + stats.discard.requests, requestsMax);
  t.log(`merges ${stats.merges}`);
});
