import test from 'ava';
import { execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The whole stack as separate processes (xenstored, backend = blkback + tapdisk, a verifying
 * frontend as domain 1): pause the VBD under I/O, copy the image while it is paused (what a
 * snapshot does), unpause onto the copy, and the frontend must verify every sector.
 */
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const bin = path.join(root, 'bin/splitblk.js');

function splitblk(rundir: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args, '--rundir', rundir], { cwd: root, timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('pause under guest I/O, swap the image, unpause: the frontend verifies every sector', async (t) => {
  const rundir = fs.mkdtempSync(path.join('/dev/shm', 'tap-live-'));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tap-live-'));
  t.teardown(async () => {
    await splitblk(rundir, 'down');
    fs.rmSync(rundir, { recursive: true, force: true });
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const up = await splitblk(rundir, 'up', '--detach');
  t.is(up.code, 0, up.stderr);
  const domain = await splitblk(rundir, 'domain', 'create', '--memory', '64');
  t.is(domain.code, 0, domain.stderr);
  const domid = domain.stdout.trim();
  const image = path.join(dir, 'disk.img');
  fs.writeFileSync(image, Buffer.alloc(16 << 20));
  const attach = await splitblk(rundir, 'attach', domid, `format=raw, vdev=xvda, access=rw, target=${image}`);
  t.is(attach.code, 0, attach.stderr);

  const frontend = spawn(process.execPath, [bin, 'frontend', domid, 'xvda', '--rundir', rundir, '--rw', 'randrw',
    '--bs', '4k', '--iodepth', '8', '--runtime', '3', '--verify', '--output=json'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  frontend.stdout.on('data', (d: Buffer) => (out += d.toString()));
  frontend.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => frontend.once('exit', resolve));
  t.teardown(() => { if (frontend.exitCode === null) frontend.kill('SIGKILL'); });

  // Wait until the guest is doing I/O.
  const requests = async () => {
    const s = JSON.parse((await splitblk(rundir, 'tap', 'stats', '--device', `${domid}/xvda`, '--output=json')).stdout)[0];
    return s.read.requests + s.write.requests;
  };
  for (let i = 0; i < 200 && (await requests()) === 0; i++) await sleep(20);
  t.true((await requests()) > 0, 'the frontend is doing I/O');

  const paused = await splitblk(rundir, 'tap', 'pause', '--device', `${domid}/xvda`, '--output=json');
  t.is(paused.code, 0, paused.stderr);
  t.is(JSON.parse(paused.stdout).state, 'paused');
  const before = await requests();
  await sleep(300);
  t.is(await requests(), before, 'no request completes while paused');
  const copy = path.join(dir, 'copy.img');
  fs.copyFileSync(image, copy);
  const resumed = await splitblk(rundir, 'tap', 'unpause', '--device', `${domid}/xvda`, '-a', `aio:${copy}`, '--output=json');
  t.is(resumed.code, 0, resumed.stderr);
  t.deepEqual(JSON.parse(resumed.stdout).chain, [`aio:${copy}`]);

  t.is(await exited, 0, err);
  const report = JSON.parse(out);
  t.is(report.errors, 0);
  t.true(report.verify.ok);
  t.is(report.verify['error-count'], 0);
  t.true(report.ios > 0);
});
