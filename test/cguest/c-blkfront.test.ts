/**
 * The C guest end to end: xenstored and the backend as separate processes in a temporary run
 * directory, a guest domain created and a raw image attached through the toolstack, and the C
 * blkfront (test/c/blkfront, built here with gcc -Werror against the Xen headers) acting as
 * that guest: full xenbus handshake over its xenstore ring, verified random I/O, clean close.
 * The tests run one at a time: each starts its own xenstored and backend, and CI has 2 cores.
 */
import test, { type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { closeSync, ftruncateSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cluster } from '../../src/bench/cluster.js';
import { buildCBlkfront, cToolchainMissing, repoRoot, runProgram } from '../../src/bench/cprograms.js';

const IMAGE_BYTES = 32 * 1024 * 1024;
const GUEST_MEMORY_MIB = 64;
const RUN_TIMEOUT_MS = 60_000;

const missing = cToolchainMissing();
const buildDir = mkdtempSync(join(tmpdir(), 'splitblk-cblkfront-'));
let binary = '';
test.before(() => {
  if (missing === undefined) binary = buildCBlkfront(buildDir);
});
test.after.always(() => rmSync(buildDir, { recursive: true, force: true }));

function skipOrFail(t: ExecutionContext): boolean {
  if (missing === undefined) return false;
  if (process.env['CI'] === 'true') t.fail(`${missing}: required under CI`);
  else {
    t.log(`skipped: ${missing}`);
    t.pass();
  }
  return true;
}

interface Features {
  'ring-page-order': number;
  'ring-slots': number;
  queues: number;
  'indirect-segments': number;
  persistent: boolean;
  protocol: string;
}

/**
 * Start a cluster, attach a fresh raw image to domain 1 as xvda (after `prepare` had its way
 * with the file descriptor), run the C guest with `flags`, expect exit code `exitCode`.
 */
async function runVerified(
  t: ExecutionContext,
  flags: string[],
  prepare?: (fd: number) => void,
  exitCode = 0,
  before?: (cluster: Cluster, devid: number) => Promise<void>,
): Promise<Record<string, any>> {
  const selfArgv = [process.execPath, join(repoRoot(), 'bin/splitblk.js')];
  const scratch = mkdtempSync(join(tmpdir(), 'splitblk-cblkfront-img-'));
  const image = join(scratch, 'disk.img');
  const fd = openSync(image, 'w');
  ftruncateSync(fd, IMAGE_BYTES);
  prepare?.(fd);
  closeSync(fd);
  const cluster = await Cluster.start({ selfArgv, env: process.env, name: 'sbk-cguest' });
  t.teardown(async () => {
    await cluster.close();
    rmSync(scratch, { recursive: true, force: true });
  });
  await cluster.createDomain(1, GUEST_MEMORY_MIB);
  const devid = await cluster.attachImage(1, 'xvda', 'raw', image);
  await before?.(cluster, devid);
  const result = await runProgram(binary, [cluster.rundir, '1', String(devid), 'verify', ...flags], RUN_TIMEOUT_MS, process.env);
  t.log(result.stdout.trim());
  if (result.code !== exitCode) t.log(`stderr: ${result.stderr}\nservices:\n${cluster.log()}`);
  t.is(result.code, exitCode, 'the C guest exits 0 only when every read verified, 3 on a mismatch');
  t.truthy(result.json, 'the C guest printed its JSON report');
  await cluster.detach(1, 'xvda');
  await cluster.destroyDomain(1);
  return result.json ?? {};
}

test.serial('C blkfront: one-page ring, verified random I/O through splitblk', async (t) => {
  if (skipOrFail(t)) return;
  const report = await runVerified(t, ['--ring-order', '0', '--queues', '1', '--indirect-segments', '0', '--no-persistent', '--qd', '8', '--ops', '1500', '--seed', '7']);
  const f = report['features'] as Features;
  t.is(f.protocol, 'x86_64-abi');
  t.is(f['ring-page-order'], 0);
  t.is(f['ring-slots'], 32);
  t.is(f.queues, 1);
  t.is(f['indirect-segments'], 0);
  t.false(f.persistent);
  t.true(report['verify'].ok);
  t.true(report['verify']['sectors-checked'] > IMAGE_BYTES / 512, 'the read-back covers the disk');
  t.is(report['close']['backend-state'], 6, 'the backend reached Closed');
  t.is(report['close']['leaked-grants'], 0);
});

test.serial('C blkfront: order-4 ring, 4 queues, indirect descriptors and persistent grants, verified', async (t) => {
  if (skipOrFail(t)) return;
  const report = await runVerified(t, ['--ring-order', '4', '--queues', '4', '--indirect-segments', '64', '--qd', '32', '--ops', '3000', '--seed', '11']);
  const f = report['features'] as Features;
  t.is(f['ring-page-order'], 4);
  t.is(f['ring-slots'], 512);
  t.is(f.queues, 4);
  t.is(f['indirect-segments'], 64);
  t.true(f.persistent);
  t.true(report['verify'].ok);
  t.true(report['writes'] > 0 && report['reads'] > 0);
  const perQueue = report['queue-requests'] as number[];
  t.is(perQueue.length, 4);
  t.true(perQueue.every((n) => n > 0), 'every queue carried requests');
  t.is(report['close']['backend-state'], 6);
  t.is(report['close']['leaked-grants'], 0);
});

test.serial('C blkfront: the verification catches sectors that do not hold what was written', async (t) => {
  if (skipOrFail(t)) return;
  // Sixteen sectors the guest never wrote hold junk: the read-back must expect zeros and object.
  const junk = Buffer.alloc(512, 0x5a);
  const report = await runVerified(t, ['--qd', '4', '--ops', '50', '--seed', '3'], (fd) => {
    for (let i = 0; i < 16; i++) writeSync(fd, junk, 0, 512, (i * 4099 + 17) * 512);
  }, 3);
  t.false(report['verify'].ok);
  t.true(report['verify'].mismatches >= 1);
  t.is(report['verify']['first-mismatch']['found-sector'], -1, 'junk has no pattern header');
});

test.serial('C blkfront: a guest killed mid-I/O leaves the backend serving the next one', async (t) => {
  if (skipOrFail(t)) return;
  const report = await runVerified(t, ['--ring-order', '2', '--queues', '2', '--qd', '16', '--ops', '800', '--seed', '5'], undefined, 0, async (cluster, devid) => {
    const victim = spawn(binary, [cluster.rundir, '1', String(devid), 'bench', '--ring-order', '3', '--queues', '2', '--qd', '64', '--seconds', '60'], { stdio: 'ignore' });
    const exited = new Promise((resolve) => victim.once('exit', resolve));
    const statePath = `/local/domain/1/device/vbd/${devid}/state`;
    for (let i = 0; i < 500 && (await cluster.toolstack.xs.readString(statePath)) !== '4'; i++) await new Promise((r) => setTimeout(r, 20));
    t.is(await cluster.toolstack.xs.readString(statePath), '4', 'the first guest connected');
    await new Promise((r) => setTimeout(r, 200)); // let reads be in flight when it dies
    victim.kill('SIGKILL');
    await exited;
  });
  t.true(report['verify'].ok, 'the second guest reconnected and verified');
  t.is(report['close']['backend-state'], 6);
});
