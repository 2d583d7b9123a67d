/**
 * The frontend simulator against splitblk's real blkback, each in its own process: our
 * xenstored runs in the test (dom0, with guest ring connections), `splitblk backend` serves a raw
 * image, the toolstack functions create the domain and attach the disk, and `splitblk frontend`
 * acts as the guest. The bar: order-4 rings, 4 queues, indirect descriptors and
 * persistent grants negotiated, and verified random I/O passing. The full CLI end-to-end tests
 * (up, attach, detach, down) live with the toolstack.
 */
import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, truncateSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { openHypervisor } from '../../src/hypervisor/hypervisor.js';
import { connectInProcess } from '../../src/xenstore-sim/client/in-process.js';
import { createGuestConnector } from '../../src/xenstore-sim/ring/connector.js';
import { XenstoreServer } from '../../src/xenstore-sim/server/index.js';
import { listenUnix } from '../../src/xenstore-sim/server/unix-listener.js';
import { createDomain } from '../../src/toolstack/domain.js';
import { attachDisk } from '../../src/toolstack/vbd.js';
import { parseDiskSpec } from '../../src/toolstack/diskspec.js';
import { repoRoot } from '../helpers/repo.js';
import { needNative } from './env.js';

const BIN = () => `${repoRoot()}/bin/splitblk.js`;

function waitExit(child: ChildProcess, timeoutMs: number): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve(child.exitCode);
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

test('splitblk frontend negotiates everything with the real blkback and verifies random I/O', async (t) => {
  if (!needNative(t)) return;
  const rundir = await mkdtemp('/dev/shm/sbr-');
  const image = `${rundir}/disk.img`;
  writeFileSync(image, '');
  truncateSync(image, 32 << 20);
  mkdirSync(`${rundir}/xenstored`);
  const socket = `${rundir}/xenstored/socket`;
  const hypervisor = openHypervisor(rundir);
  const connector = createGuestConnector(hypervisor);
  const server = new XenstoreServer({ guests: connector });
  const listener = await listenUnix(server, socket);
  const dom0 = connectInProcess(server, 0);
  const backend = spawn(process.execPath, [BIN(), 'backend', '--rundir', rundir, '--xenstored-socket', socket, '--control-socket', `${rundir}/ctl.sock`, '--quiet'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let backendErr = '';
  backend.stderr!.on('data', (d: Buffer) => (backendErr += d.toString()));
  t.teardown(async () => {
    backend.kill('SIGTERM');
    await waitExit(backend, 10_000);
    await dom0.close();
    await listener.close();
    server.close();
    connector.close();
    hypervisor.close();
    await rm(rundir, { recursive: true, force: true });
  });
  const ready = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), 20_000);
    createInterface({ input: backend.stdout! }).on('line', (line) => {
      if (/ready/.test(line)) {
        clearTimeout(timer);
        resolve(true);
      }
    });
    backend.once('exit', () => resolve(false));
  });
  t.true(ready, `the backend did not start: ${backendErr}`);
  if (!ready) return;

  const info = await createDomain({ hypervisor, xs: dom0 }, { memoryMiB: 64 });
  const spec = parseDiskSpec(`format=raw, vdev=xvda, access=rw, target=${image}`);
  if (!spec.ok) throw new Error(spec.error);
  await attachDisk(dom0, info.domid, spec.value);

  const front = spawn(process.execPath, [BIN(), 'frontend', String(info.domid), 'xvda', '--rundir', rundir, '--rw', 'randrw', '--bs', '64k',
    '--iodepth', '16', '--size', '8M', '--verify', '--seed', '5', '--output=json'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  front.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  front.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await waitExit(front, 60_000);
  t.is(code, 0, `${stderr}\n${backendErr}`);
  const report = JSON.parse(stdout);
  t.like(report.features, { protocol: 'x86_64-abi', 'ring-page-order': 4, queues: 4, persistent: true });
  t.true(report.features['indirect-segments'] >= 16, 'indirect descriptors negotiated');
  t.is(report.ios, 128);
  t.true(report.verify.ok, JSON.stringify(report.verify.errors));
  t.is(report.close['backend-state'], 6);
  t.is(report.close['leaked-grants'], 0);
});
