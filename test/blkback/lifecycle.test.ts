import test from 'ava';
import { closeSync, ftruncateSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { BlkifRequest } from '../../src/blkback/protocol/request.js';
import { XenbusState, waitForState } from '../../src/xenstore-sim/xenbus/index.js';
import { Frontend, Guest } from './fixtures/guest.js';
import { Harness } from './harness.js';
import { startBackend } from '../../src/backend/host.js';

function image(dir: string, name: string, bytes: number): string {
  const path = join(dir, name);
  const fd = openSync(path, 'w');
  ftruncateSync(fd, bytes);
  closeSync(fd);
  return path;
}

/** WRITE one page at `sector` (unless `readOnly`), READ it back; returns both statuses and whether the data matched. */
async function roundTrip(fe: Frontend, sector: number, salt: number): Promise<{ write: number; read: number; match: boolean }> {
  const g = fe.guest;
  const gfn = g.mem.allocPages(2);
  const refs = [g.gt.grantAccess(0, gfn, false), g.gt.grantAccess(0, gfn + 1, false)];
  const src = g.bytes(gfn);
  for (let i = 0; i < src.length; i++) src[i] = (i + salt) & 0xff;
  const req = new BlkifRequest();
  const q = fe.queues[0]!;
  const io = async (op: number, ref: number) => {
    req.clear();
    req.operation = op;
    req.nrSegments = 1;
    req.segmentCount = 1;
    req.gref[0] = ref;
    req.firstSect[0] = 0;
    req.lastSect[0] = 7;
    req.sectorNumber = sector;
    return (await q.submit(req)).status;
  };
  const write = await io(1, refs[0]!);
  const read = await io(0, refs[1]!);
  const match = Buffer.compare(g.bytes(gfn + 1), src) === 0;
  for (const r of refs) g.gt.endAccess(r);
  g.mem.freePages(gfn, 2);
  return { write, read, match };
}

const DEV = 51712;

test('blkif.h shortcut: a frontend already Initialised when the device appears is connected', async (t) => {
  const h = await Harness.start();
  try {
    await h.createDomain(1);
    const g = await Guest.open(h.rundir, h.xsSocket, 1);
    const fe = new Frontend(g, DEV);
    await h.xs.write(`${fe.path}/backend`, h.backendPath(1, DEV));
    const connected = fe.connect({ shortcut: true });
    await waitForState(h.xs, `${fe.path}/state`, (s) => s === XenbusState.Initialised, 10_000);
    t.is(await h.xs.readString(`${h.backendPath(1, DEV)}/state`), undefined, 'no backend yet');
    await h.attach(1, DEV, { params: `aio:${image(h.tmp, 'a.raw', 16 << 20)}`, frontendNodes: false });
    const n = await connected;
    t.is(n.order, 0);
    t.deepEqual(await roundTrip(fe, 100, 1), { write: 0, read: 0, match: true });
    t.is(await fe.close(), XenbusState.Closed);
    t.is(await h.detach(1, DEV), XenbusState.Closed);
    await g.close();
  } finally {
    t.is(await h.close(), 0);
  }
});

test('reconnect re-reads every key: one page and one queue, then order 2 with 2 queues', async (t) => {
  const h = await Harness.start();
  try {
    await h.createDomain(1);
    await h.attach(1, DEV, { params: `aio:${image(h.tmp, 'a.raw', 16 << 20)}` });
    const g = await Guest.open(h.rundir, h.xsSocket, 1);
    const fe = new Frontend(g, DEV);
    t.like(await fe.connect({ order: 0, queues: 1 }), { order: 0, queues: 1 });
    t.deepEqual(await roundTrip(fe, 8, 2), { write: 0, read: 0, match: true });
    t.is(await fe.close(), XenbusState.Closed);
    t.like(await fe.reconnect({ order: 2, queues: 2 }), { order: 2, queues: 2 });
    t.deepEqual(await roundTrip(fe, 8, 3), { write: 0, read: 0, match: true });
    t.is(await fe.close(), XenbusState.Closed);
    t.is(await h.detach(1, DEV), XenbusState.Closed);
    await g.close();
  } finally {
    t.is(await h.close(), 0);
  }
});

test('frontend death (its state node vanishes) closes the backend; the device stays detachable', async (t) => {
  const h = await Harness.start();
  try {
    await h.createDomain(1);
    await h.attach(1, DEV, { params: `aio:${image(h.tmp, 'a.raw', 16 << 20)}` });
    const g = await Guest.open(h.rundir, h.xsSocket, 1);
    const fe = new Frontend(g, DEV);
    await fe.connect({ order: 1, persistent: true });
    t.deepEqual(await roundTrip(fe, 16, 4), { write: 0, read: 0, match: true });
    await h.xs.rm(fe.path);
    t.is(await h.backendState(1, DEV, (s) => s === XenbusState.Closed), XenbusState.Closed);
    t.is(await h.detach(1, DEV), XenbusState.Closed);
    await g.close();
  } finally {
    t.is(await h.close(), 0);
  }
});

test('toolstack detach with a frontend that never closes: Closed after the detach deadline', async (t) => {
  const h = await Harness.start(['--detach-timeout-ms', '300']);
  try {
    await h.createDomain(1);
    await h.attach(1, DEV, { params: `aio:${image(h.tmp, 'a.raw', 16 << 20)}` });
    const g = await Guest.open(h.rundir, h.xsSocket, 1);
    const fe = new Frontend(g, DEV);
    await fe.connect({});
    t.is(await h.detach(1, DEV), XenbusState.Closed);
    await g.close();
  } finally {
    t.is(await h.close(), 0);
  }
});

test('read-only VBD: VDISK_READONLY, no flush or barrier, WRITE refused, READ served', async (t) => {
  const h = await Harness.start();
  try {
    await h.createDomain(1);
    await h.attach(1, DEV, { params: `aio:${image(h.tmp, 'ro.raw', 16 << 20)}`, mode: 'r' });
    const g = await Guest.open(h.rundir, h.xsSocket, 1);
    const fe = new Frontend(g, DEV);
    const n = await fe.connect({});
    t.like(n, { readonly: true, flush: false, barrier: false, discard: false });
    const r = await roundTrip(fe, 0, 5);
    t.is(r.write, -1);
    t.is(r.read, 0);
    t.is(await fe.close(), XenbusState.Closed);
    t.is(await h.detach(1, DEV), XenbusState.Closed);
    await g.close();
  } finally {
    t.is(await h.close(), 0);
  }
});

test('bad frontend keys and an unopenable image: `error` node and Closing', async (t) => {
  const h = await Harness.start();
  try {
    await h.createDomain(1);
    await h.attach(1, DEV, { params: `aio:${image(h.tmp, 'a.raw', 16 << 20)}` });
    await h.backendState(1, DEV, (s) => s === XenbusState.InitWait);
    const fe = h.frontendPath(1, DEV);
    await h.xs.write(`${fe}/event-channel`, '5');
    await h.xs.write(`${fe}/state`, String(XenbusState.Initialised));
    t.is(await h.backendState(1, DEV, (s) => s === XenbusState.Closing), XenbusState.Closing);
    t.regex((await h.xs.readString(`${h.backendPath(1, DEV)}/error`)) ?? '', /missing ring-ref key/);
    await h.xs.write(`${fe}/state`, String(XenbusState.Closed));
    t.is(await h.detach(1, DEV), XenbusState.Closed);

    await h.attach(1, DEV + 16, { params: `aio:${join(h.tmp, 'missing.raw')}` });
    t.is(await h.backendState(1, DEV + 16, (s) => s === XenbusState.Closing), XenbusState.Closing);
    t.regex((await h.xs.readString(`${h.backendPath(1, DEV + 16)}/error`)) ?? '', /missing\.raw/);
    t.is(await h.detach(1, DEV + 16), XenbusState.Closed);
  } finally {
    t.is(await h.close(), 0);
  }
});

test('resize: `sectors` rewritten, then `state`, so the connected frontend sees the new size', async (t) => {
  const h = await Harness.start(null);
  const lines: string[] = [];
  const host = await startBackend({
    rundir: h.rundir,
    xenstoredSocket: h.xsSocket,
    controlSocket: join(h.rundir, 'tapdisk', 'control.sock'),
    log: (line) => lines.push(line),
  });
  try {
    await h.createDomain(1);
    await h.attach(1, DEV, { params: `aio:${image(h.tmp, 'a.raw', 16 << 20)}` });
    const g = await Guest.open(h.rundir, h.xsSocket, 1);
    const fe = new Frontend(g, DEV);
    t.is((await fe.connect({})).sectors, 32768);
    const watch = await g.xs.watch(`${fe.backPath}/state`);
    const events = watch[Symbol.asyncIterator]();
    await events.next(); // the registration event
    await host.blkback.resize(1, DEV, 65536);
    await events.next(); // the state rewrite
    t.is(await g.xs.readString(`${fe.backPath}/sectors`), '65536');
    t.is(await g.xs.readString(`${fe.backPath}/state`), String(XenbusState.Connected));
    await watch.close();
    const stats = host.blkback.stats();
    t.is(stats.length, 1);
    t.like(stats[0], { domid: 1, devid: DEV, state: 'Connected', queues: 1 });
    t.is(await fe.close(), XenbusState.Closed);
    t.is(await h.detach(1, DEV), XenbusState.Closed);
    await g.close();
  } finally {
    await host.stop();
    await h.close();
  }
  t.true(lines.some((l) => l.includes('resized')), lines.join('\n'));
});

test('toolstack removes the directory with requests in flight: they are answered, then the ring and grants are unmapped', async (t) => {
  const h = await Harness.start();
  try {
    await h.createDomain(1);
    await h.attach(1, DEV, { params: `aio:${image(h.tmp, 'a.raw', 64 << 20)}` });
    const g = await Guest.open(h.rundir, h.xsSocket, 1);
    const fe = new Frontend(g, DEV);
    await fe.connect({ order: 1 });
    const q = fe.queues[0]!;
    const gfn = g.mem.allocPages(11 * 32);
    const refs = Array.from({ length: 11 * 32 }, (_, i) => g.gt.grantAccess(0, gfn + i, false));
    const inflight = Array.from({ length: 32 }, (_, k) => {
      const req = new BlkifRequest();
      req.operation = k % 2;
      req.nrSegments = 11;
      req.segmentCount = 11;
      for (let i = 0; i < 11; i++) {
        req.gref[i] = refs[k * 11 + i]!;
        req.firstSect[i] = 0;
        req.lastSect[i] = 7;
      }
      req.sectorNumber = k * 88;
      return q.submit(req);
    });
    await h.xs.rm(h.backendPath(1, DEV));
    const answers = await Promise.all(inflight);
    t.is(answers.length, 32);
    t.true(answers.every((a) => a.status === 0 || a.status === -1));
    // The backend unmaps everything once the requests are done: the guest can end access.
    const deadline = Date.now() + 10_000;
    const all = [...q.refs, ...refs];
    while (!all.every((r) => g.gt.endAccess(r)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    t.true(Date.now() < deadline, 'every grant could be ended');
    t.is(h.backend.child.exitCode, null, 'the backend is still running');
    await g.close();
  } finally {
    t.is(await h.close(), 0);
  }
});

test('a frontend killed mid-I/O leaves the backend healthy and the device detachable', async (t) => {
  const h = await Harness.start(['--detach-timeout-ms', '300']);
  try {
    await h.createDomain(1);
    await h.createDomain(2);
    await h.attach(1, DEV, { params: `aio:${image(h.tmp, 'a.raw', 64 << 20)}` });
    await h.attach(2, DEV, { params: `aio:${image(h.tmp, 'b.raw', 16 << 20)}` });
    const victim = h.frontend({ domid: 1, devid: DEV, scenario: 'verify', order: 2, queues: 2, persistent: true, qd: 8, requests: 1_000_000, segmentsMax: 64 });
    await h.backendState(1, DEV, (s) => s === XenbusState.Connected);
    await new Promise((r) => setTimeout(r, 300));
    victim.child.kill('SIGKILL');
    await victim.exited;
    t.is(await h.detach(1, DEV), XenbusState.Closed);
    const other = await h.result(h.frontend({ domid: 2, devid: DEV, scenario: 'verify', qd: 2, requests: 100, segmentsMax: 11 }));
    t.is(other.result['errors'], 0);
    t.is(other.result['mismatches'], 0);
    t.is(await h.detach(2, DEV), XenbusState.Closed);
  } finally {
    t.is(await h.close(), 0);
  }
});

test('SIGTERM: every device goes Closed, its rings are unmapped, and the backend exits 0', async (t) => {
  const h = await Harness.start();
  const g = await (async () => {
    await h.createDomain(1);
    await h.attach(1, DEV, { params: `aio:${image(h.tmp, 'a.raw', 16 << 20)}` });
    return Guest.open(h.rundir, h.xsSocket, 1);
  })();
  try {
    const fe = new Frontend(g, DEV);
    await fe.connect({ order: 2, queues: 2, persistent: true });
    t.deepEqual(await roundTrip(fe, 64, 9), { write: 0, read: 0, match: true });
    h.backend.child.kill('SIGTERM');
    t.is(await h.backend.exited, 0);
    t.is(await g.xs.readString(`${fe.backPath}/state`), String(XenbusState.Closed));
    t.true(fe.queues.every((q) => q.refs.every((r) => g.gt.endAccess(r))), 'ring pages unmapped');
  } finally {
    await g.close();
    t.is(await h.close(), 0);
  }
});
