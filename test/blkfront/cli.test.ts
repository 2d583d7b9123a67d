/**
 * `splitblk frontend` as its own process, acting as the guest through its xenstore ring page and
 * event channels, against our xenstored and the RAM backend running in this (dom0) process.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { repoRoot } from '../helpers/repo.js';
import { needNative, setupEnv } from './env.js';

const DEVID = 51712;

function runCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [`${repoRoot()}/bin/splitblk.js`, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

test('splitblk frontend --verify --output=json negotiates, runs and verifies in its own process', async (t) => {
  if (!needNative(t)) return;
  const env = await setupEnv(t);
  const backend = await env.addDisk(DEVID, { sectors: 8192, maxRingPageOrder: 3, maxQueues: 2, indirectSegments: 64, persistent: true });
  // The test process opened its own guest handles in setupEnv: release them, one process acts as the guest.
  await env.guest.close();
  const r = await runCli([
    'frontend', String(env.domid), 'xvda', '--rundir', env.rundir, '--rw', 'randrw', '--bs', '64k', '--iodepth', '8',
    '--size', '2M', '--verify', '--seed', '11', '--output=json',
  ]);
  t.is(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout);
  t.like(report.features, { protocol: 'x86_64-abi', 'ring-page-order': 3, queues: 2, 'indirect-segments': 64, persistent: true });
  t.is(report.ios, 32);
  t.true(report.verify.ok);
  t.true(report.verify['sectors-checked'] > 0);
  t.is(report.close['backend-state'], 6);
  t.is(report.close['leaked-grants'], 0);
  t.true(report.latency['p50-us'] > 0);
  t.true(backend.requests.indirect > 0);

  // A second run on the same device (it reconnects), with the human output and fewer features.
  const h = await runCli(['frontend', String(env.domid), String(DEVID), '--rundir', env.rundir, '--rw', 'read', '--size', '256k',
    '--ring-order', '0', '--queues', '1', '--no-persistent', '--verify']);
  t.is(h.code, 0, h.stderr);
  t.regex(h.stdout, /x86_64-abi, ring order 0 \(32 slots\) x 1 queue\(s\), indirect 64 segments, persistent grants off/);
  t.regex(h.stdout, /read bs=4096 iodepth=1 seed=\d+: 64 I\/Os in/);
  t.regex(h.stdout, /verify: ok, 512 sectors checked/);
});

test('splitblk frontend: usage errors exit 2 with a message', async (t) => {
  const r = await runCli(['frontend', '1', 'nosuchdisk']);
  t.is(r.code, 2);
  t.regex(r.stderr, /VDEV/);
  const r2 = await runCli(['frontend', '1', 'xvda', '--runtime', '1', '--size', '1M']);
  t.is(r2.code, 2);
  const r3 = await runCli(['frontend', '1', 'xvda', '--bs', '1000']);
  t.is(r3.code, 2);
});

test('SIGINT ends a long run early and still closes the device cleanly', async (t) => {
  if (!needNative(t)) return;
  const env = await setupEnv(t);
  await env.addDisk(DEVID, { sectors: 8192 });
  await env.guest.close();
  const child = spawn(process.execPath, [`${repoRoot()}/bin/splitblk.js`, 'frontend', String(env.domid), 'xvda', '--rundir', env.rundir,
    '--rw', 'randread', '--iodepth', '4', '--runtime', '60', '--output=json'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  // Interrupt once the frontend is connected.
  const fe = `/local/domain/${env.domid}/device/vbd/${DEVID}/state`;
  for (let i = 0; i < 200 && (await env.dom0.readString(fe)) !== '4'; i++) await new Promise((r) => setTimeout(r, 25));
  child.kill('SIGINT');
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  t.is(code, 0);
  const report = JSON.parse(stdout);
  t.true(report.interrupted);
  t.true(report.seconds < 30);
  t.is(report.close['backend-state'], 6);
  t.is(await env.dom0.readString(fe), '6');
});
