/**
 * A guest's blkfront killed with SIGKILL in the middle of its I/O: the backend stays healthy
 * (another domain's disk still does verified I/O on the same backend process) and the dead
 * guest's device still detaches. As with libxl, the dead frontend's state node stays at
 * Connected, so detach's online=0 + Closing is answered by blkback's own detach deadline: it
 * must reach Closed within detach's 10 s without --force.
 */
import test from 'ava';
import { truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connectSocket } from '../../src/xenstore-sim/client/socket.js';
import { xenstoredSocketPath } from '../../src/cli/rundir.js';
import { finished, makeRunDir, needNative, ok, processesOf, startCli, upDetached, waitUntil } from './cli.js';

const CONNECTED = '4';
const DEVID = 51712;

test('a frontend killed mid-I/O leaves the backend healthy and the device detachable', async (t) => {
  if (!needNative(t)) return;
  const dir = await makeRunDir(t);
  await upDetached(t, dir);
  // up, xenstored and the backend: the same pids at the end show that nothing died or restarted.
  const before = processesOf(dir.rundir);
  const images = [1, 2].map((domid) => {
    const path = join(dir.scratch, `dom${domid}.raw`);
    writeFileSync(path, '');
    truncateSync(path, 8 * 1024 * 1024);
    return path;
  });
  for (const domid of [1, 2]) {
    await ok(t, ['domain', 'create', '--domid', String(domid), ...dir.flag]);
    await ok(t, ['attach', String(domid), `format=raw, vdev=xvda, access=rw, target=${images[domid - 1]}`, ...dir.flag]);
  }

  // Domain 1's guest writes with a deep queue; kill it once it is connected and has I/O in flight.
  const xs = await connectSocket(xenstoredSocketPath(dir.rundir));
  t.teardown(() => xs.close());
  const guest = startCli(['frontend', '1', 'xvda', '--rw', 'randwrite', '--iodepth', '32', '--runtime', '30', ...dir.flag]);
  const guestDone = finished(guest);
  const feState = `/local/domain/1/device/vbd/${DEVID}/state`;
  t.true(await waitUntil(async () => (await xs.readString(feState)) === CONNECTED, 10_000), 'the guest connected');
  // Let it run a moment, so that a queue of 32 writes is in flight when it dies.
  await new Promise((resolve) => setTimeout(resolve, 300));
  guest.kill('SIGKILL');
  t.is((await guestDone).signal, 'SIGKILL');
  t.is(await xs.readString(feState), CONNECTED, 'a dead frontend leaves its state at Connected');

  // The backend process is the same one, and domain 2's disk does verified I/O through it.
  const other = JSON.parse(await ok(t, ['frontend', '2', 'xvda', '--verify', '--rw', 'randrw', '--size', '1M', '--iodepth', '8',
    '--output=json', ...dir.flag]));
  t.true(other.verify.ok, JSON.stringify(other.verify));
  t.is(other.errors, 0);

  // Detach without --force: blkback closes a device whose frontend never answers.
  await ok(t, ['detach', '1', 'xvda', ...dir.flag]);
  t.is(await xs.readString(`/local/domain/0/backend/vbd/1/${DEVID}`), undefined);
  t.is(await xs.readString(`/local/domain/1/device/vbd/${DEVID}`), undefined);
  const rows = JSON.parse(await ok(t, ['list', '--output=json', ...dir.flag])) as Array<{ domid: number }>;
  t.deepEqual(rows.map((r) => r.domid), [2]);
  t.deepEqual(processesOf(dir.rundir).sort(), before.sort(), 'no service died or was restarted');

  // The device can be attached again (the backend answers with InitWait). A new guest process for
  // domain 1 is not run here: the killed one's watches remain registered on domain 1's xenstore
  // ring, so a frontend that does not reset them first fails with EEXIST (reported to blkfront).
  t.is(await ok(t, ['attach', '1', `format=raw, vdev=xvda, access=rw, target=${images[0]}`, ...dir.flag]), `${DEVID}\n`);
  await ok(t, ['down', ...dir.flag]);
});
