/**
 * `splitblk up` in the foreground supervises its services: a xenstored killed with SIGKILL is
 * restarted, the backend is restarted after it (its connection and watches died with the old
 * xenstored), the pair serves a new domain's disk again, and after too many deaths `up` gives up
 * and exits 1 rather than looping.
 */
import test from 'ava';
import { readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { socketAccepts } from '../../src/toolstack/connect.js';
import { xenstoredSocketPath } from '../../src/cli/rundir.js';
import { finished, leftovers, makeRunDir, needNative, ok, processesOf, startCli, waitUntil, type RunDir } from './cli.js';

/** The restart bound of `splitblk up` (RESTARTS_MAX in src/cli/commands/up.ts). */
const RESTARTS_MAX = 3;
const RESTART_WAIT_MS = 15_000;

/** The pid of a service of the run directory: `node bin/splitblk.js <verb> ...`. */
function servicePid(dir: RunDir, verb: string): number | undefined {
  return processesOf(dir.rundir).find((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[2] === verb;
    } catch {
      return false;
    }
  });
}

/** SIGKILL xenstored, then wait for a new xenstored and a new backend to be running and accepting. */
async function killXenstored(t: Parameters<typeof ok>[0], dir: RunDir): Promise<void> {
  const xenstored = servicePid(dir, 'xenstored');
  const backend = servicePid(dir, 'backend');
  t.not(xenstored, undefined);
  process.kill(xenstored!, 'SIGKILL');
  const socket = xenstoredSocketPath(dir.rundir);
  const control = join(dir.rundir, 'tapdisk', 'control.sock');
  const restarted = await waitUntil(async () => {
    const x = servicePid(dir, 'xenstored');
    const b = servicePid(dir, 'backend');
    return x !== undefined && x !== xenstored && b !== undefined && b !== backend && (await socketAccepts(socket)) && socketAccepts(control);
  }, RESTART_WAIT_MS, 50);
  t.true(restarted, 'xenstored and then the backend were restarted and accept again');
}

/** `splitblk up` in the foreground, once it has printed `ready`. */
async function foregroundUp(t: Parameters<typeof ok>[0], dir: RunDir) {
  const up = startCli(['up', ...dir.flag]);
  const upDone = finished(up, 60_000);
  let stdout = '';
  up.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  t.true(await waitUntil(() => stdout === 'ready\n', 15_000), 'up printed ready');
  return { up, upDone };
}

test('up restarts a killed xenstored and the backend after it, a bounded number of times', async (t) => {
  if (!needNative(t)) return;
  const dir = await makeRunDir(t);
  const { upDone } = await foregroundUp(t, dir);

  await killXenstored(t, dir);
  // The new pair serves: a new domain (the old store is gone) attaches and does verified I/O.
  const image = join(dir.scratch, 'disk.raw');
  writeFileSync(image, '');
  truncateSync(image, 4 * 1024 * 1024);
  await ok(t, ['domain', 'create', '--domid', '4', ...dir.flag]);
  await ok(t, ['attach', '4', `format=raw, vdev=xvda, target=${image}`, ...dir.flag]);
  const report = JSON.parse(await ok(t, ['frontend', '4', 'xvda', '--verify', '--rw', 'randrw', '--size', '512k', '--output=json', ...dir.flag]));
  t.true(report.verify.ok);

  // Each further death is restarted up to the bound; one more and up stops everything and exits 1.
  for (let restart = 2; restart <= RESTARTS_MAX; restart++) await killXenstored(t, dir);
  process.kill(servicePid(dir, 'xenstored')!, 'SIGKILL');
  const result = await upDone;
  t.is(result.code, 1, result.stderr);
  t.regex(result.stderr, new RegExp(`xenstored died more than ${RESTARTS_MAX} times; stopping`));
  t.regex(result.stderr, /\[supervisor\] xenstored restarted \(1 of 3\)/);
  t.regex(result.stderr, /\[supervisor\] backend restarted after xenstored/);
  t.deepEqual(processesOf(dir.rundir), [], 'up stopped its services');
  await ok(t, ['down', ...dir.flag]);
  t.deepEqual(leftovers(dir.rundir), { pids: [], rundirExists: false });
});

test('up in the foreground prints ready and stops cleanly on SIGTERM', async (t) => {
  if (!needNative(t)) return;
  const dir = await makeRunDir(t);
  const { up, upDone } = await foregroundUp(t, dir);
  // A second up on the same run directory refuses.
  const second = await finished(startCli(['up', '--detach', ...dir.flag]));
  t.is(second.code, 1);
  t.regex(second.stderr, /already running in/);
  up.kill('SIGTERM');
  const result = await upDone;
  t.is(result.code, 0, result.stderr);
  t.deepEqual(processesOf(dir.rundir), []);
  await ok(t, ['down', ...dir.flag]);
  t.deepEqual(leftovers(dir.rundir), { pids: [], rundirExists: false });
});

test('services started by up stop by themselves when up is killed with SIGKILL', async (t) => {
  if (!needNative(t)) return;
  const dir = await makeRunDir(t);
  const { up, upDone } = await foregroundUp(t, dir);
  t.not(servicePid(dir, 'xenstored'), undefined);
  t.not(servicePid(dir, 'backend'), undefined);
  up.kill('SIGKILL');
  await upDone;
  // No supervisor is left to stop them: they see their stdin pipe close and stop as on SIGTERM.
  t.true(await waitUntil(() => processesOf(dir.rundir).length === 0, 15_000), 'xenstored and the backend exited');
  await ok(t, ['down', ...dir.flag]);
  t.deepEqual(leftovers(dir.rundir), { pids: [], rundirExists: false });
});
