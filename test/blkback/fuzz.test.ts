import test from 'ava';
import { closeSync, ftruncateSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { XenbusState } from '../../src/xenstore-sim/xenbus/index.js';
import { Harness } from './harness.js';

/**
 * Hostile-input fuzz: a separate frontend process sends seeded random hostile requests to one
 * VBD while another frontend process runs verified I/O on a second VBD of the same backend.
 * SPLITBLK_FUZZ_REQUESTS sets the count (10^5 by default under CI=true, 3*10^4 elsewhere;
 * 10^6 for the long run),
 * SPLITBLK_FUZZ_SEED replays a seed.
 */
const requests = Number(process.env['SPLITBLK_FUZZ_REQUESTS'] ?? (process.env['CI'] === 'true' ? 100_000 : 30_000));
const seed = Number(process.env['SPLITBLK_FUZZ_SEED'] ?? (Date.now() % 0x7fffffff) + 1);

function image(dir: string, name: string, bytes: number): string {
  const path = join(dir, name);
  const fd = openSync(path, 'w');
  ftruncateSync(fd, bytes);
  closeSync(fd);
  return path;
}

test(`hostile frontend: ${requests} seeded random requests, answers as Linux blkback, memory outside grants untouched, other VBD unaffected`, async (t) => {
  t.log(`seed ${seed} (replay with SPLITBLK_FUZZ_SEED=${seed})`);
  const h = await Harness.start();
  try {
    // Two hostile frontends (persistent grants and per-request mappings), one well-behaved one.
    for (const domid of [3, 4, 5]) await h.createDomain(domid);
    await h.attach(3, 51712, { params: `aio:${image(h.tmp, 'fuzz-p.raw', 128 << 20)}` });
    await h.attach(4, 51712, { params: `aio:${image(h.tmp, 'fuzz-n.raw', 128 << 20)}` });
    await h.attach(5, 51712, { params: `aio:${image(h.tmp, 'good.raw', 64 << 20)}` });
    const half = Math.ceil(requests / 2);
    const hostile = [
      h.frontend({ domid: 3, devid: 51712, scenario: 'fuzz', order: 1, persistent: true, requests: half, seed }),
      h.frontend({ domid: 4, devid: 51712, scenario: 'fuzz', order: 0, persistent: false, requests: requests - half, seed: seed + 1 }),
    ];
    const good = h.frontend({ domid: 5, devid: 51712, scenario: 'verify', order: 2, queues: 2, persistent: false, qd: 4, requests: 1000, segmentsMax: 64, seed });
    const [p, np, ok] = await Promise.all([h.result(hostile[0]!), h.result(hostile[1]!), h.result(good)]);
    for (const [name, bad, count] of [['persistent', p, half], ['per-request', np, requests - half]] as const) {
      const r = bad.result as Record<string, unknown>;
      t.log(name, JSON.stringify({ ...r, examples: undefined }));
      t.deepEqual(r['examples'], [], name);
      t.is(r['wrong'], 0, `${name}: every answer is the one Linux blkback gives`);
      t.is(r['requests'], count);
      t.true(r['canariesIntact'] as boolean, `${name}: pages never granted are untouched`);
      t.true(r['readonlyIntact'] as boolean, `${name}: read-only grants are never written`);
      t.like(r['overflow'], { state: XenbusState.Closing });
      t.regex(String((r['overflow'] as Record<string, unknown>)['error']), /bogus ring requests/);
      t.is(bad.closed, XenbusState.Closed);
    }
    t.is(ok.result['errors'], 0, 'the other VBD keeps working');
    t.is(ok.result['mismatches'], 0);
    // And after the storm, the backend still serves: reconnect the good VBD and verify again.
    const after = await h.result(h.frontend({ domid: 5, devid: 51712, scenario: 'verify', reconnect: true, order: 4, queues: 4, persistent: true, qd: 4, requests: 400, segmentsMax: 64, seed: seed + 2 }));
    t.is(after.result['errors'], 0, 'the backend still serves after the hostile run');
    t.is(after.result['mismatches'], 0);
    for (const domid of [3, 4, 5]) t.is(await h.detach(domid, 51712), XenbusState.Closed);
  } finally {
    t.is(await h.close(), 0, 'the backend survived and exits cleanly');
  }
});
