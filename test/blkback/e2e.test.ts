import test from 'ava';
import { closeSync, openSync, ftruncateSync } from 'node:fs';
import { join } from 'node:path';
import { XenbusState } from '../../src/xenstore-sim/xenbus/index.js';
import { Harness } from './harness.js';
import { TapdiskClient } from '../../src/tapdisk/index.js';

function sparseImage(dir: string, name: string, bytes: number): string {
  const path = join(dir, name);
  const fd = openSync(path, 'w');
  ftruncateSync(fd, bytes);
  closeSync(fd);
  return path;
}

/**
 * The backend's `final stats` line for `device`. It is logged just after the backend writes
 * Closed, so it may reach our pipe a moment after the state does: wait for it (up to 5 s).
 */
async function finalStats(output: () => string, device: string): Promise<Record<string, number>> {
  const end = Date.now() + 5000;
  for (;;) {
    const line = output().split('\n').find((l) => l.includes(`vbd ${device}: final stats`));
    if (line !== undefined) return JSON.parse(line.slice(line.indexOf('{'))) as Record<string, number>;
    if (Date.now() > end) throw new Error(`no final stats for ${device} in:\n${output()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('x86_32 ABI, one-page ring, one queue, no persistent grants: verified READ/WRITE, then detach and clean exit', async (t) => {
  const h = await Harness.start();
  try {
    await h.createDomain(1);
    const img = sparseImage(h.tmp, 'a.raw', 64 << 20);
    await h.attach(1, 51712, { params: `aio:${img}` });
    const fe = h.frontend({ domid: 1, devid: 51712, scenario: 'verify', order: 0, queues: 1, persistent: false, qd: 4, requests: 300, segmentsMax: 11, protocol: 'x86_32-abi' });
    const r = await h.result(fe);
    t.log(JSON.stringify(r));
    t.like(r.negotiated, { order: 0, queues: 1, persistent: false, sectors: (64 << 20) / 512 });
    t.is(r.result['errors'], 0);
    t.is(r.result['mismatches'], 0);
    t.is(r.closed, XenbusState.Closed);
    t.is(await h.detach(1, 51712), XenbusState.Closed);
  } finally {
    t.is(await h.close(), 0, 'backend exits 0 on SIGTERM');
  }
});

test('persistent grants beyond the cache cap: the excess is mapped per request, purged in the background, data verified', async (t) => {
  const h = await Harness.start();
  try {
    await h.createDomain(3, 128);
    const img = sparseImage(h.tmp, 'c.raw', 128 << 20);
    await h.attach(3, 51712, { params: `aio:${img}` });
    // 8 requests of up to 256 segments in flight: a working set of grants well above the
    // 1056-entry cache of the ring.
    const fe = h.frontend({ domid: 3, devid: 51712, scenario: 'verify', order: 0, queues: 1, persistent: true, qd: 8, requests: 300, segmentsMax: 256 });
    const r = await h.result(fe);
    t.is(r.result['errors'], 0);
    t.is(r.result['mismatches'], 0);
    t.is(await h.detach(3, 51712), XenbusState.Closed);
    const stats = await finalStats(() => h.backend.stderr, '3/51712');
    t.log(JSON.stringify(stats));
    t.true(stats['persistent-overflows']! > 0, 'the cache filled up and the excess went per request');
    t.true(stats['persistent-hits']! > 0, 'cached grants are still reused');
    t.is(stats['errors'], 0);
  } finally {
    t.is(await h.close(), 0);
  }
});

test('order-4 ring, 4 queues, indirect descriptors and persistent grants: verified random I/O', async (t) => {
  const h = await Harness.start();
  try {
    await h.createDomain(2, 128);
    const img = sparseImage(h.tmp, 'b.raw', 128 << 20);
    await h.attach(2, 51712, { params: `aio:${img}` });
    const fe = h.frontend({ domid: 2, devid: 51712, scenario: 'verify', order: 4, queues: 4, persistent: true, qd: 4, requests: 600, segmentsMax: 520 });
    const r = await h.result(fe);
    t.log(JSON.stringify(r));
    t.like(r.negotiated, { order: 4, queues: 4, persistent: true, indirectSegmentsMax: 4096 });
    t.is(r.result['errors'], 0);
    t.is(r.result['mismatches'], 0);
    t.true((r.result['indirect'] as number) > 0);
    // The ring counters reach the tapdisk control plane (`splitblk tap stats`).
    const tap = await TapdiskClient.connect(join(h.rundir, 'tapdisk', 'control.sock'));
    const reports = await tap.stats();
    tap.end();
    t.is(reports.length, 1);
    t.is(reports[0]!.rings?.rings.length, 4);
    t.true((reports[0]!.rings?.total['rd-req'] as number) > 0);
    t.is(await h.detach(2, 51712), XenbusState.Closed);
    const stats = await finalStats(() => h.backend.stderr, '2/51712');
    t.log(JSON.stringify(stats));
    t.true(stats['persistent-hits']! > stats['persistent-misses']!, 'grants are reused');
    t.is(stats['errors'], 0);
    t.true(stats['indirect-req']! > 0);
  } finally {
    t.is(await h.close(), 0);
  }
});
