/**
 * The live operations over the control socket, in one process (a Tapdisk listening on a unix
 * socket, a TapdiskClient talking to it): typed refusals, a coalesce cancelled during its bulk
 * copy that leaves the disk and its data as they were, and the job table's cancel rules.
 */
import test from 'ava';
import { join } from 'node:path';
import { SplitblkError } from '../../src/util/errors.js';
import { TdOp, TdStatus } from '../../src/tapdisk/api.js';
import { Tapdisk } from '../../src/tapdisk/tapdisk.js';
import { TapdiskClient, type JobDescription } from '../../src/tapdisk/control/client.js';
import { createVhd, openVhdChain } from '../../src/tapdisk/drivers/vhd/index.js';
import { JobTable } from '../../src/tapdisk/drivers/vhd/live/job.js';
import { request } from '../tapdisk/helpers.js';
import { tempDir } from '../helpers/temp.js';

const MiB = 1024 * 1024;
const SIZE = 64 * MiB;

async function rejectsWith(t: import('ava').ExecutionContext, p: Promise<unknown>, code: string): Promise<void> {
  const e = await t.throwsAsync(p);
  t.true(e instanceof SplitblkError, String(e));
  t.is((e as SplitblkError).code, code, e?.message);
}

async function waitEnd(client: TapdiskClient, job: JobDescription): Promise<JobDescription> {
  let j = job;
  for (let i = 0; i < 2000 && j.status === 'running'; i++) {
    await new Promise((r) => setTimeout(r, 10));
    j = await client.jobStatus(j.id);
  }
  return j;
}

/** base (empty) <- mid (48 MiB of data) <- leaf (empty), and what the disk reads as. */
async function makeChain(dir: string): Promise<{ base: string; mid: string; leaf: string; content: Uint8Array }> {
  const base = join(dir, 'base.vhd');
  const mid = join(dir, 'mid.vhd');
  const leaf = join(dir, 'leaf.vhd');
  await createVhd({ path: base, type: 'dynamic', size: SIZE });
  await createVhd({ path: mid, type: 'differencing', parent: base });
  const content = new Uint8Array(SIZE);
  for (let i = 0; i < 48 * MiB; i += 4) content[i] = (i >>> 12) & 0xff;
  const io = await openVhdChain(mid);
  await io.write(0, (48 * MiB) / 512, [content.subarray(0, 48 * MiB)]);
  await io.close();
  await createVhd({ path: leaf, type: 'differencing', parent: mid });
  return { base, mid, leaf, content };
}

test('refusals, a chain-busy snapshot and a cancelled coalesce over the control socket', async (t) => {
  const dir = tempDir(t, 'splitblk-live-');
  const { base, mid, leaf, content } = await makeChain(dir);
  const tapdisk = new Tapdisk({ aio: null, registryDir: join(dir, 'tapdisk', 'registry') });
  t.teardown(() => tapdisk.close());
  await tapdisk.listen(join(dir, 'tapdisk', 'control.sock'));
  const client = await TapdiskClient.connect(join(dir, 'tapdisk', 'control.sock'), { timeoutMs: 30_000 });
  t.teardown(() => client.end());
  const vbd = await tapdisk.open(`vhd:${leaf}`);
  const ram = await tapdisk.open('ram:1M');

  await rejectsWith(t, client.snapshot(vbd.minor, 'relative.vhd'), 'SPLITBLK_ERR_BAD_REQUEST');
  await rejectsWith(t, client.snapshot(ram.minor, join(dir, 'x.vhd')), 'SPLITBLK_ERR_VHD_NOT_VHD');
  await rejectsWith(t, client.snapshot(99, join(dir, 'x.vhd')), 'SPLITBLK_ERR_NO_VBD');
  await rejectsWith(t, client.coalesce({ node: join(dir, 'nobody.vhd') }), 'SPLITBLK_ERR_NO_VBD');
  await rejectsWith(t, client.coalesce({ minor: vbd.minor, node: join(dir, 'elsewhere.vhd') }), 'SPLITBLK_ERR_BAD_REQUEST');
  await rejectsWith(t, client.coalesce({ node: base }), 'SPLITBLK_ERR_BAD_REQUEST');
  await rejectsWith(t, client.jobStatus('1-1'), 'SPLITBLK_ERR_NO_JOB');

  // A coalesce of mid (24 blocks to copy): while it runs the chain is busy; cancelled during
  // the copy, it leaves the disk on its chain.
  const started = await client.coalesce({ node: mid });
  t.like(started, { kind: 'coalesce', status: 'running', error: null, result: null });
  await rejectsWith(t, client.snapshot(vbd.minor, join(dir, 'snap.vhd')), 'SPLITBLK_ERR_CHAIN_BUSY');
  const asked = await client.jobCancel(started.id);
  t.is(asked.id, started.id);
  const ended = await waitEnd(client, asked);
  t.is(ended.status, 'cancelled');
  t.is(ended.error?.code, 'SPLITBLK_ERR_JOB_CANCELLED');
  t.true(ended.current < ended.total, `stopped at ${ended.current}/${ended.total}`);
  t.log(`cancelled at block ${ended.current} of ${ended.total}`);
  await rejectsWith(t, client.jobCancel(started.id), 'SPLITBLK_ERR_JOB_STATE');
  t.is(vbd.spec, `vhd:${leaf}`);
  t.deepEqual(vbd.info.chain, [`vhd:${leaf}`, `vhd:${mid}`, `vhd:${base}`]);

  // The disk reads as before, through the VBD.
  const memory = new Uint8Array(MiB);
  const region = tapdisk.registerRegion(memory.buffer);
  for (let at = 0; at < SIZE; at += MiB) {
    t.is((await request(vbd, TdOp.Read, at / 512, MiB / 512, region, 0)).status, TdStatus.Ok);
    if (!Buffer.from(memory).equals(Buffer.from(content.subarray(at, at + MiB)))) t.fail(`differs in MiB ${at / MiB}`);
  }

  // Run again to the end: done, and the job list has both.
  const again = await waitEnd(client, await client.coalesce({ node: mid }));
  t.is(again.status, 'done', JSON.stringify(again.error));
  t.like(again.result, { node: mid, parent: base, removable: [mid], refreshed: [vbd.minor] });
  t.true(again.result!.pauseMs! > 0);
  t.deepEqual((await client.jobs()).map((j) => j.status), ['cancelled', 'done']);
  t.deepEqual(vbd.info.chain, [`vhd:${leaf}`, `vhd:${base}`]);
});

test('job table: a job without safe points cannot be cancelled; a finished one neither', async (t) => {
  const jobs = new JobTable(64, 'test');
  let release!: () => void;
  const gate = new Promise<void>((r) => { release = r; });
  const snap = jobs.start('snapshot', async () => { await gate; return 1; });
  t.is(snap.id, 'test-1');
  t.throws(() => snap.cancel(), { message: /cannot be cancelled/ });
  release();
  await snap.done;
  t.is(snap.report().status, 'done');
  t.throws(() => snap.cancel(), { message: /is done/ });

  const copy = jobs.start('coalesce', async (job) => {
    for (let i = 1; i <= 1000; i++) {
      job.progress(i, 1000);
      job.cancelPoint?.();
      await new Promise((r) => setImmediate(r));
    }
    return 2;
  }, { cancellable: true });
  await new Promise((r) => setImmediate(r));
  copy.cancel();
  await t.throwsAsync(copy.done, { message: /cancelled/ });
  const r = copy.report();
  t.is(r.status, 'cancelled');
  t.is(r.error?.code, 'SPLITBLK_ERR_JOB_CANCELLED');
  t.true(r.current < 1000);
  t.is(jobs.require('test-2'), copy);
  t.throws(() => jobs.require('test-3'), { message: /no job/ });
});
