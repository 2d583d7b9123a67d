import test from 'ava';

import { native } from '../../src/native/index.js';
import { runChild, tempDir } from './helpers.js';

const engines = native.aio.ioUringAvailable() ? ['io_uring', 'threads'] : ['threads'];

for (const engine of engines) {
  test(`${engine}: a process exits cleanly with a doorbell, a mapping and an AIO context left open`, async (t) => {
    const { dir, cleanup } = tempDir('life');
    t.teardown(cleanup);
    const result = await runChild('open-everything', [dir, engine]);
    t.is(result.signal, null, result.stderr);
    t.is(result.code, 0, result.stderr);
    t.deepEqual(result.lines, [{ open: true }]);
  });

  test(`${engine}: terminating a Worker that has them all open does not crash the process`, async (t) => {
    const { dir, cleanup } = tempDir('life');
    t.teardown(cleanup);
    const result = await runChild('worker-teardown', [dir, engine]);
    t.is(result.signal, null, result.stderr);
    t.is(result.code, 0, result.stderr);
    t.deepEqual(result.lines, [{ terminated: true }]);
  });
}
