import * as fs from 'node:fs';
import * as path from 'node:path';

import test from 'ava';

import { native } from '../../src/native/index.js';
import type { SplitblkError } from '../../src/util/errors.js';
import { runChild, startChild, tempDir } from './helpers.js';

/** Resolves on the next ring, counting every callback. */
function counter(): { onRing: () => void; rings: () => number; next: () => Promise<void> } {
  let count = 0;
  let waiter: (() => void) | null = null;
  return {
    onRing: () => {
      count++;
      waiter?.();
      waiter = null;
    },
    rings: () => count,
    next: () => new Promise((resolve) => (waiter = resolve)),
  };
}

test('a ring from another process wakes the listener; rings coalesce', async (t) => {
  const { dir, cleanup } = tempDir('bell');
  t.teardown(cleanup);
  const rings = counter();
  const doorbell = native.doorbell.listen(path.join(dir, 'bell'), rings.onRing);
  t.teardown(() => doorbell.close({ unlink: true }));
  t.true(fs.statSync(doorbell.path).isFIFO());
  t.is(fs.statSync(doorbell.path).mode & 0o777, 0o600);
  const woke = rings.next();
  const result = await runChild('ring', [doorbell.path, '1000']);
  t.is(result.code, 0, result.stderr);
  t.deepEqual(result.lines[0], { ok: true });
  await woke;
  // A thousand rings arrive as far fewer callbacks: the FIFO is drained on each wake-up.
  t.true(rings.rings() >= 1 && rings.rings() < 1000, `${rings.rings()} callbacks`);
});

test('rings from this process wake it on a later turn; a full FIFO still counts as rung', async (t) => {
  const { dir, cleanup } = tempDir('bell');
  t.teardown(cleanup);
  const rings = counter();
  const doorbell = native.doorbell.listen(path.join(dir, 'bell'), rings.onRing);
  const bell = native.doorbell.connect(doorbell.path);
  t.teardown(() => {
    bell.close();
    doorbell.close({ unlink: true });
  });
  const woke = rings.next();
  // More than a pipe holds (64 KiB): the writes past capacity get EAGAIN, which is fine.
  for (let i = 0; i < 70_000; i++) t.true(bell.ring() || t.fail(`ring ${i}`));
  t.is(rings.rings(), 0);
  await woke;
  t.true(rings.rings() >= 1 && rings.rings() <= 3);
  const again = rings.next();
  t.true(bell.ring());
  await again;
});

test('connect fails with SPLITBLK_ERR_NO_DOORBELL when nobody listens', (t) => {
  const { dir, cleanup } = tempDir('bell');
  t.teardown(cleanup);
  const missing = t.throws(() => native.doorbell.connect(path.join(dir, 'absent'))) as SplitblkError;
  t.is(missing.code, 'SPLITBLK_ERR_NO_DOORBELL');
  // The FIFO exists but its listener closed it: open(O_WRONLY|O_NONBLOCK) gives ENXIO.
  native.doorbell.listen(path.join(dir, 'bell'), () => {}).close();
  t.true(fs.statSync(path.join(dir, 'bell')).isFIFO());
  t.is((t.throws(() => native.doorbell.connect(path.join(dir, 'bell'))) as SplitblkError).code, 'SPLITBLK_ERR_NO_DOORBELL');
  fs.writeFileSync(path.join(dir, 'plain'), '');
  t.is((t.throws(() => native.doorbell.listen(path.join(dir, 'plain'), () => {})) as SplitblkError).code, 'SPLITBLK_ERR_NO_DOORBELL');
});

test('ring() returns false once the listener is gone, and SIGPIPE does not kill us', (t) => {
  const { dir, cleanup } = tempDir('bell');
  t.teardown(cleanup);
  const doorbell = native.doorbell.listen(path.join(dir, 'bell'), () => {});
  const bell = native.doorbell.connect(doorbell.path);
  doorbell.close({ unlink: true });
  t.false(fs.existsSync(doorbell.path));
  t.false(bell.ring());
  t.false(bell.ring());
  bell.close();
  t.false(bell.ring());
  t.notThrows(() => doorbell.close());
});

test('an idle listener (and idle AIO contexts) do not burn CPU (measured in a child)', async (t) => {
  const { dir, cleanup } = tempDir('bell');
  t.teardown(cleanup);
  const result = await runChild('idle-listen', [path.join(dir, 'bell'), '300']);
  t.is(result.code, 0, result.stderr);
  const { cpuMicros } = result.lines[0] as { cpuMicros: number };
  // A spinning loop would use ~300 000 µs here; an idle one a few hundred.
  t.true(cpuMicros < 60_000, `${cpuMicros} µs of CPU in 300 ms of idling`);
});

test('an unref()ed doorbell lets the process exit', async (t) => {
  const { dir, cleanup } = tempDir('bell');
  t.teardown(cleanup);
  const child = startChild('listen-unref', [path.join(dir, 'bell')]);
  const timer = setTimeout(() => child.kill(), 10_000);
  const result = await child.done;
  clearTimeout(timer);
  t.is(result.code, 0, result.stderr);
  t.deepEqual(result.lines, [{ listening: true }]);
});

test('an exception thrown by onRing is an uncaught exception, not a crash in libuv', async (t) => {
  const { dir, cleanup } = tempDir('bell');
  t.teardown(cleanup);
  const child = startChild('listen-throw', [path.join(dir, 'bell')]);
  t.deepEqual(await child.firstLine, { listening: true });
  const bell = native.doorbell.connect(path.join(dir, 'bell'));
  t.true(bell.ring());
  bell.close();
  const result = await child.done;
  t.is(result.code, 0, result.stderr);
  t.deepEqual(result.lines[1], { uncaught: 'from onRing' });
});
