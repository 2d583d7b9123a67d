/**
 * Live storage operations end to end, every part its own process: `splitblk up` (xenstored and
 * the backend), a guest domain with a VHD attached, `splitblk frontend` as the guest running a
 * verifying random writer, and the operations driven through the CLI and the tapdisk control
 * plane as jobs: a snapshot, a non-leaf coalesce whose chain is also used by a VBD of another
 * tapdisk process (refreshed through that process's control socket), and a leaf coalesce.
 *
 * Oracles: the writer checks every read against the last write it had acknowledged and reads
 * back everything it wrote at the end (no byte lost, stale or misplaced); a whole-disk read
 * pass finds every sector still stamped and self-consistent; the other process's disk reads the
 * same before and after the coalesce (qemu-img compare against a raw copy qemu-img made); the
 * final image passes `splitblk image check`.
 */
import test from 'ava';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { available } from '../helpers/ci.js';
import { needNative } from '../blkfront/env.js';
import { haveTool, run, sleep, start } from './cli.js';

const SIZE = '32M';
const SECTORS = (32 << 20) / 512;
/** Long enough for every operation below to run while the writer does. */
const WRITER_SECONDS = 20;

test('snapshot, non-leaf coalesce and leaf coalesce as jobs under a verifying guest', async (t) => {
  if (!needNative(t)) return;
  if (!available(t, haveTool('qemu-img') ? undefined : 'qemu-img (qemu-utils) is not installed')) return;
  const rundir = await mkdtemp('/dev/shm/sblv-');
  const img = join(rundir, 'img');
  mkdirSync(img);
  const R = ['--rundir', rundir];
  const at = (name: string) => join(img, name);
  let other: ChildProcess | undefined;
  let guest: ChildProcess | undefined;
  t.teardown(async () => {
    for (const child of [guest, other]) {
      if (child === undefined || child.exitCode !== null || child.signalCode !== null) continue;
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
    await run(['down', ...R], 20_000);
    await rm(rundir, { recursive: true, force: true });
  });

  const up = await run(['up', ...R, '--detach'], 30_000);
  t.is(up.code, 0, up.stderr);
  const dom = await run(['domain', 'create', ...R]);
  t.is(dom.code, 0, dom.stderr);
  const domid = dom.stdout.trim();
  const device = ['--device', `${domid}/xvda`];
  t.is((await run(['image', 'create', at('base.vhd'), SIZE])).code, 0);
  const attach = await run(['attach', domid, `format=vhd, vdev=xvda, access=rw, target=${at('base.vhd')}`, ...R]);
  t.is(attach.code, 0, attach.stderr);

  // A second tapdisk process, for a clone later.
  other = start(['tap', 'serve', ...R, '--name', 'other'], 120_000).child;

  // Stamp every sector first, so a later whole-disk read can tell a lost sector (no stamp).
  const fill = await run(['frontend', domid, 'xvda', ...R, '--rw', 'write', '--bs', '64k', '--iodepth', '8', '--verify', '--output=json']);
  t.is(fill.code, 0, fill.stderr);

  // A snapshot of the idle disk: base becomes history under mid.
  const snap1 = await run(['tap', 'snapshot', ...device, at('mid.vhd'), '--wait', '--output=json', ...R]);
  t.is(snap1.code, 0, snap1.stderr);
  const s1 = JSON.parse(snap1.stdout);
  t.like(s1, { kind: 'snapshot', status: 'done', result: { snapshot: at('base.vhd'), leaf: at('mid.vhd') } });
  const minor = s1.result.refreshed[0] as number;

  const writer = start(['frontend', domid, 'xvda', ...R, '--rw', 'randrw', '--bs', '64k', '--iodepth', '8', '--verify',
    '--runtime', String(WRITER_SECONDS), '--seed', '7', '--output=json'], 90_000);
  guest = writer.child;
  await sleep(1500);

  // Live snapshot: the guest now writes to leaf; mid becomes history.
  const snap2 = await run(['tap', 'snapshot', ...device, at('leaf.vhd'), '--wait', '--output=json', ...R]);
  t.is(snap2.code, 0, snap2.stderr);
  t.like(JSON.parse(snap2.stdout), { status: 'done', result: { leaf: at('leaf.vhd'), refreshed: [minor] } });

  // A clone on mid, served by another tapdisk process: the coalesce of mid must refresh it too.
  t.is((await run(['image', 'create', '-b', at('mid.vhd'), at('clone.vhd')])).code, 0);
  const otherSocket = join(rundir, 'tapdisk', 'other.sock');
  let created = await run(['tap', 'create', ...R, '--socket', otherSocket, '-a', `vhd:${at('clone.vhd')}`, '--output=json']);
  for (let i = 0; i < 50 && created.code === 4; i++) {
    await sleep(100);
    created = await run(['tap', 'create', ...R, '--socket', otherSocket, '-a', `vhd:${at('clone.vhd')}`, '--output=json']);
  }
  t.is(created.code, 0, created.stderr);
  const clone = JSON.parse(created.stdout);
  const list0 = JSON.parse((await run(['tap', 'list', ...R, '--output=json'])).stdout) as Array<{ minor: number; pid: number }>;
  t.not(clone.pid, list0.find((v) => v.minor === minor)!.pid, 'the clone is served by another process');
  const cloneRaw = at('clone-before.raw');
  t.is((runTool('qemu-img', ['convert', '-f', 'vpc', '-O', 'raw', at('clone.vhd'), cloneRaw])).code, 0);

  // Non-leaf coalesce: mid into base while the guest writes to leaf; leaf and clone re-parented.
  const mid = await run(['tap', 'coalesce', at('mid.vhd'), '--wait', '--output=json', ...R]);
  t.is(mid.code, 0, mid.stderr);
  const m = JSON.parse(mid.stdout);
  t.like(m, { kind: 'coalesce', status: 'done', result: { node: at('mid.vhd'), parent: at('base.vhd'), removable: [at('mid.vhd')] } });
  t.deepEqual([...m.result.refreshed].sort(), [minor, clone.minor].sort(), 'both users of the chain were refreshed');
  t.true(m.total > 0);
  const list1 = JSON.parse((await run(['tap', 'list', ...R, '--output=json'])).stdout) as Array<{ minor: number; chain: string[] }>;
  t.deepEqual(list1.find((v) => v.minor === minor)!.chain, [`vhd:${at('leaf.vhd')}`, `vhd:${at('base.vhd')}`]);
  t.deepEqual(list1.find((v) => v.minor === clone.minor)!.chain, [`vhd:${at('clone.vhd')}`, `vhd:${at('base.vhd')}`]);
  const same = runTool('qemu-img', ['compare', '-f', 'vpc', '-F', 'raw', at('clone.vhd'), cloneRaw]);
  t.is(same.code, 0, `the other process's disk changed: ${same.stdout}${same.stderr}`);

  // A leaf coalesce into base is refused while the clone also reads base.
  const refused = await run(['tap', 'coalesce', ...device, '--wait', ...R]);
  t.is(refused.code, 1);
  t.regex(refused.stderr, /SPLITBLK_ERR_PARENT_SHARED/);
  t.is((await run(['tap', 'destroy', '-m', String(clone.minor), ...R])).code, 0);

  // Leaf coalesce: leaf into base with a bounded pause; the disk ends on base alone.
  const leaf = await run(['tap', 'coalesce', ...device, '--wait', '-p', '--output=json', ...R]);
  t.is(leaf.code, 0, leaf.stderr);
  const l = JSON.parse(leaf.stdout);
  t.like(l, { status: 'done', result: { node: at('leaf.vhd'), parent: at('base.vhd'), refreshed: [minor] } });
  t.regex(leaf.stderr, /100%/);
  t.log(`leaf coalesce: guest-visible pause ${l.result['pause-ms'].toFixed(1)} ms ` +
    `(+ ${l.result['snapshot-pause-ms'].toFixed(1)} ms for its snapshot step); ` +
    `snapshots ${s1.result['pause-ms'].toFixed(1)} and ${JSON.parse(snap2.stdout).result['pause-ms'].toFixed(1)} ms; ` +
    `non-leaf re-parent ${m.result['pause-ms'].toFixed(1)} ms`);
  t.is(writer.child.exitCode, null, 'the writer was still running when the operations ended');

  const jobs = JSON.parse((await run(['job', 'list', ...R, '--output=json'])).stdout) as Array<{ id: string; kind: string; status: string }>;
  t.deepEqual(jobs.map((j) => [j.kind, j.status]), [['snapshot', 'done'], ['snapshot', 'done'], ['coalesce', 'done'], ['coalesce', 'done']]);
  const status = await run(['job', 'status', jobs[3]!.id, ...R, '--output=json']);
  t.is(status.code, 0);
  t.is(JSON.parse(status.stdout).result['pause-ms'], l.result['pause-ms']);
  const late = await run(['job', 'cancel', jobs[3]!.id, ...R]);
  t.is(late.code, 1);
  t.regex(late.stderr, /SPLITBLK_ERR_JOB_STATE/);
  t.is((await run(['job', 'status', '1-999', ...R])).code, 3);

  const w = await writer.done;
  t.is(w.code, 0, w.stderr);
  const report = JSON.parse(w.stdout);
  t.is(report.errors, 0, String(report['first-error']));
  t.true(report.verify.ok, JSON.stringify(report.verify.errors));
  t.true(report.writes > 0 && report.reads > 0);
  t.log(`writer: ${report.writes} writes, ${report.reads} reads, ${report.verify['sectors-checked']} sectors verified`);

  const list2 = JSON.parse((await run(['tap', 'list', ...R, '--output=json'])).stdout) as Array<{ minor: number; chain: string[] }>;
  t.deepEqual(list2.map((v) => v.chain), [[`vhd:${at('base.vhd')}`]]);

  // The whole disk: every sector still carries a stamp, at the right place, intact.
  const whole = await run(['frontend', domid, 'xvda', ...R, '--rw', 'read', '--bs', '64k', '--iodepth', '8', '--verify', '--output=json']);
  t.is(whole.code, 0, whole.stderr);
  const v = JSON.parse(whole.stdout).verify;
  t.true(v.ok, JSON.stringify(v.errors));
  t.is(v['sectors-checked'], SECTORS);
  t.is(v['sectors-with-header'], SECTORS);

  t.is((await run(['detach', domid, 'xvda', ...R])).code, 0);
  const check = await run(['image', 'check', at('base.vhd')]);
  t.is(check.code, 0, check.stdout + check.stderr);
});

function runTool(cmd: string, args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
