/**
 * The toolstack end to end, through the CLI as a user drives it: up → env → domain create (seen
 * by the real xenstore-ls) → attach raw → list → frontend --verify → detach → attach VHD →
 * frontend --verify → detach → domain destroy (@releaseDomain fires) → down, leaving no process,
 * socket or run directory behind.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connectSocket } from '../../src/xenstore-sim/client/socket.js';
import {
  leftovers, makeRunDir, needNative, needTool, ok, parseExports, processesOf, splitblk, upDetached, type RunDir,
} from './cli.js';

const RAW_BYTES = 8 * 1024 * 1024;
const XVDA_DEVID = 51712;
const XVDB_DEVID = 51728;

interface ListRow {
  domid: number;
  devid: number;
  vdev: string;
  params: string;
  mode: string;
  'backend-state': string;
  'frontend-state': string;
}

async function list(t: Parameters<typeof ok>[0], dir: RunDir): Promise<ListRow[]> {
  return JSON.parse(await ok(t, ['list', '--output=json', ...dir.flag])) as ListRow[];
}

function makeRaw(path: string): void {
  writeFileSync(path, Buffer.alloc(0));
  truncateSync(path, RAW_BYTES);
}

/** `splitblk frontend DOMID VDEV --verify --output=json ...`, checked and parsed. */
async function verifiedFrontend(t: Parameters<typeof ok>[0], dir: RunDir, domid: number, vdev: string, extra: string[]) {
  const out = await ok(t, ['frontend', String(domid), vdev, '--verify', '--output=json', ...extra, ...dir.flag]);
  const report = JSON.parse(out);
  t.true(report.verify.ok, JSON.stringify(report.verify));
  t.true(report.verify['sectors-checked'] > 0);
  t.is(report.errors, 0);
  t.is(report.close['leaked-grants'], 0);
  return report;
}

test('up → domain create → attach raw and VHD → frontend --verify → detach → destroy → down leaves nothing', async (t) => {
  if (!needNative(t) || !needTool(t, 'xenstore-ls', 'xenstore-utils')) return;
  const dir = await makeRunDir(t);
  await upDetached(t, dir);

  // env: the exports real Xen tools need.
  const vars = parseExports(await ok(t, ['env', ...dir.flag]));
  t.is(vars['SPLITBLK_RUNDIR'], dir.rundir);
  t.is(vars['XENSTORED_PATH'], join(dir.rundir, 'xenstored', 'socket'));
  const toolEnv = { ...process.env, XENSTORED_PATH: vars['XENSTORED_PATH'] };

  t.is(await ok(t, ['domain', 'create', '--domid', '1', '--name', 'e2e-guest', '--memory', '32', ...dir.flag]), '1\n');

  // The real xenstore-ls sees the domain home with libxl's permissions: dom0 owns it, the guest reads.
  const ls = spawnSync('xenstore-ls', ['-fp', '/local/domain'], { env: toolEnv, encoding: 'utf8' });
  t.is(ls.status, 0, ls.stderr);
  const lines = ls.stdout.split('\n');
  const line = (path: string) => lines.find((l) => l.startsWith(`${path} = `));
  t.regex(line('/local/domain/1') ?? '', /= ""\s+\(n0,r1\)$/);
  t.regex(line('/local/domain/1/name') ?? '', /= "e2e-guest"\s+\(n0,r1\)$/);
  t.regex(line('/local/domain/1/domid') ?? '', /= "1"\s+\(n0,r1\)$/);
  t.regex(line('/local/domain/1/device') ?? '', /\(n0,r1\)$/);
  t.regex(line('/local/domain/1/data') ?? '', /\(n1\)$/);

  // A raw disk: attach prints the devid; list shows both ends before the guest connects.
  const raw = join(dir.scratch, 'disk.raw');
  makeRaw(raw);
  t.is(await ok(t, ['attach', '1', `format=raw, vdev=xvda, access=rw, target=${raw}`, ...dir.flag]), `${XVDA_DEVID}\n`);
  // libxl's node set and permissions: the backend directory is dom0's and the guest reads it;
  // the frontend directory is the guest's and dom0 reads it.
  const vbd = spawnSync('xenstore-ls', ['-fp', '/local/domain/0/backend/vbd/1', '/local/domain/1/device/vbd'], { env: toolEnv, encoding: 'utf8' });
  t.is(vbd.status, 0, vbd.stderr);
  const be = `/local/domain/0/backend/vbd/1/${XVDA_DEVID}`;
  const fe = `/local/domain/1/device/vbd/${XVDA_DEVID}`;
  for (const [node, value] of [['', ''], ['/frontend', fe], ['/frontend-id', '1'], ['/online', '1'], ['/mode', 'w'], ['/dev', 'xvda'], ['/params', `aio:${raw}`]]) {
    t.true(vbd.stdout.includes(`${be}${node} = "${value}"   (n0,r1)\n`), `${be}${node} in\n${vbd.stdout}`);
  }
  for (const [node, value] of [['', ''], ['/backend', be], ['/backend-id', '0'], ['/virtual-device', String(XVDA_DEVID)]]) {
    t.true(vbd.stdout.includes(`${fe}${node} = "${value}"   (n1,r0)\n`), `${fe}${node} in\n${vbd.stdout}`);
  }
  t.like((await list(t, dir))[0], {
    domid: 1, devid: XVDA_DEVID, vdev: 'xvda', params: `aio:${raw}`, mode: 'w', 'backend-state': 'InitWait', 'frontend-state': 'Initialising',
  });
  const report = await verifiedFrontend(t, dir, 1, 'xvda', ['--runtime', '1']);
  t.is(report.disk.sectors, RAW_BYTES / 512);
  t.is(report.close['backend-state'], 6);
  t.like((await list(t, dir))[0], { 'backend-state': 'Closed', 'frontend-state': 'Closed' });
  await ok(t, ['detach', '1', 'xvda', ...dir.flag]);
  t.deepEqual(await list(t, dir), []);

  // A VHD made by `splitblk image create`, written and read back verified through the frontend.
  const vhd = join(dir.scratch, 'disk.vhd');
  await ok(t, ['image', 'create', '-f', 'vhd', vhd, '64M']);
  t.is(await ok(t, ['attach', '1', `format=vhd, vdev=xvdb, access=rw, target=${vhd}`, ...dir.flag]), `${XVDB_DEVID}\n`);
  t.like((await list(t, dir))[0], { devid: XVDB_DEVID, params: `vhd:${vhd}` });
  const vhdReport = await verifiedFrontend(t, dir, 1, 'xvdb', ['--runtime', '1', '--rw', 'randrw', '--iodepth', '8']);
  t.is(vhdReport.disk.sectors, (64 * 1024 * 1024) / 512);
  t.true(vhdReport.writes > 0);
  await ok(t, ['detach', '1', 'xvdb', ...dir.flag]);
  t.deepEqual(await list(t, dir), []);

  // domain destroy fires @releaseDomain (watched here through the client library) and removes the home.
  const xs = await connectSocket(vars['XENSTORED_PATH']!);
  const watch = await xs.watch('@releaseDomain');
  const events = watch[Symbol.asyncIterator]();
  await events.next(); // The registration event.
  const released = events.next();
  await ok(t, ['domain', 'destroy', '1', ...dir.flag]);
  t.is((await released).value?.path, '@releaseDomain');
  t.is(await xs.readString('/local/domain/1'), undefined);
  await watch.close();
  await xs.close();
  const domains = JSON.parse(await ok(t, ['domain', 'list', '--output=json', ...dir.flag])) as Array<{ domid: number }>;
  t.deepEqual(domains.map((d) => d.domid), [0]);

  // down: every process of this run directory is gone, and so are its sockets and the directory.
  const services = processesOf(dir.rundir);
  t.true(services.length >= 3, 'up, xenstored and the backend were running');
  await ok(t, ['down', ...dir.flag]);
  t.deepEqual(leftovers(dir.rundir), { pids: [], rundirExists: false });
  t.false(existsSync(vars['XENSTORED_PATH']!));
});

test('a read-only disk refuses writes with an error, and the backend keeps serving', async (t) => {
  if (!needNative(t)) return;
  const dir = await makeRunDir(t);
  await upDetached(t, dir);
  await ok(t, ['domain', 'create', '--domid', '3', ...dir.flag]);
  const raw = join(dir.scratch, 'ro.raw');
  makeRaw(raw);
  const before = readFileSync(raw);
  await ok(t, ['attach', '3', `format=raw, vdev=xvda, access=ro, target=${raw}`, ...dir.flag]);
  t.like((await list(t, dir))[0], { mode: 'r' });

  const write = await splitblk(['frontend', '3', 'xvda', '--rw', 'write', '--size', '64k', '--output=json', ...dir.flag]);
  t.is(write.code, 1, write.stderr);
  t.regex(write.stderr, /read-only/);
  // Buffer.equals, not t.deepEqual: ava's deep comparison of megabytes takes seconds.
  t.true(readFileSync(raw).equals(before), 'nothing was written');

  // The backend is unharmed: a second disk on the same backend does verified I/O, and the
  // read-only one detaches cleanly.
  const rw = join(dir.scratch, 'rw.raw');
  makeRaw(rw);
  await ok(t, ['attach', '3', `format=raw, vdev=xvdb, access=rw, target=${rw}`, ...dir.flag]);
  await verifiedFrontend(t, dir, 3, 'xvdb', ['--rw', 'randrw', '--size', '1M', '--iodepth', '4']);
  await ok(t, ['detach', '3', 'xvda', ...dir.flag]);
  await ok(t, ['detach', '3', 'xvdb', ...dir.flag]);
  t.deepEqual(await list(t, dir), []);
  await ok(t, ['down', ...dir.flag]);
  t.deepEqual(leftovers(dir.rundir), { pids: [], rundirExists: false });
});
