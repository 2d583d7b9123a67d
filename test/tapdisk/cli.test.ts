import test from 'ava';
import { execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TapdiskClient } from '../../src/tapdisk/control/client.js';
import { pidAlive, readDatapaths, registryDir } from '../../src/tapdisk/control/datapaths.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const bin = path.join(root, 'bin/splitblk.js');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function splitblk(rundir: string, ...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    const env = { ...process.env, SPLITBLK_RUNDIR: rundir };
    execFile(process.execPath, [bin, ...args], { env, cwd: root }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

const json = (r: Run) => JSON.parse(r.stdout) as Record<string, unknown> & Array<Record<string, unknown>>;

test('tap create, list, pause, unpause, stats and destroy from the command line', async (t) => {
  const rundir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapcli-'));
  const spawned = new Set<number>();
  t.teardown(() => {
    for (const pid of spawned) if (pidAlive(pid)) process.kill(pid, 'SIGKILL');
    fs.rmSync(rundir, { recursive: true, force: true });
  });
  const created = await splitblk(rundir, 'tap', 'create', '-a', 'ram:1M', '--device', '3/xvda', '--output=json');
  t.is(created.code, 0, created.stderr);
  const vbd = json(created);
  spawned.add(vbd['pid'] as number);
  t.is(vbd['minor'], 0);
  t.is(vbd['domain'], 3);
  t.is(vbd['device'], 51712);
  t.is(vbd['bytes'], 1 << 20);

  const second = await splitblk(rundir, 'tap', 'create', '-a', 'null:1G', '--output=json');
  t.is(second.code, 0, second.stderr);
  spawned.add(json(second)['pid'] as number);

  const list = await splitblk(rundir, 'tap', 'list', '--output=json');
  t.is(list.code, 0, list.stderr);
  t.deepEqual(json(list).map((v) => [v['minor'], v['domain'], v['device'], v['state'], v['chain']]), [
    [0, 3, 51712, 'running', ['ram:1M']],
    [1, null, null, 'running', ['null:1G']],
  ]);
  const table = await splitblk(rundir, 'tap', 'list');
  t.regex(table.stdout, /^minor\s+pid\s+domain\s+device\s+state\s+size\s+chain\n0\s+\d+\s+3\s+51712\s+running\s+1MiB\s+ram:1M\n/);

  t.is((await splitblk(rundir, 'tap', 'pause', '--device', '3/xvda')).code, 0);
  const refused = await splitblk(rundir, 'tap', 'unpause', '-m', '0', '-a', 'ram:2M');
  t.is(refused.code, 1);
  t.regex(refused.stderr, /SPLITBLK_ERR_SIZE_CHANGED/);
  const resumed = await splitblk(rundir, 'tap', 'unpause', '-m', '0', '-a', 'ram:1M?id=new', '--output=json');
  t.is(resumed.code, 0, resumed.stderr);
  t.is(json(resumed)['state'], 'running');
  t.deepEqual(json(resumed)['chain'], ['ram:1M?id=new']);

  const stats = await splitblk(rundir, 'tap', 'stats', '-m', '0', '--output=json');
  t.is(stats.code, 0, stats.stderr);
  t.deepEqual(Object.keys(json(stats)[0]!), [
    'minor', 'read', 'write', 'flush', 'discard', 'merges', 'timeouts', 'in-flight', 'pending', 'bytes-copied', 'latency-us',
  ]);

  t.is((await splitblk(rundir, 'tap', 'destroy', '-m', '5')).code, 3, 'no such VBD');
  t.is((await splitblk(rundir, 'tap', 'destroy')).code, 2, 'usage');
  const unknown = await splitblk(rundir, 'tap', 'create', '-a', 'qcow9:/x');
  t.is(unknown.code, 1);
  t.regex(unknown.stderr, /SPLITBLK_ERR_UNKNOWN_TYPE/);

  t.is((await splitblk(rundir, 'tap', 'destroy', '-m', '0')).code, 0);
  t.is((await splitblk(rundir, 'tap', 'destroy', '--device', '3/xvda')).code, 3);
  t.is((await splitblk(rundir, 'tap', 'destroy', '-m', '1')).code, 0);
  // Each tapdisk that create started exits once its VBD is gone (as tap-ctl destroy's does).
  for (let i = 0; i < 100 && [...spawned].some(pidAlive); i++) await new Promise((r) => setTimeout(r, 50));
  t.false([...spawned].some(pidAlive));
  t.deepEqual(readDatapaths(registryDir(rundir)), []);
  t.deepEqual(json(await splitblk(rundir, 'tap', 'list', '--output=json')), []);
});

test('tap serve runs a tapdisk until SIGTERM, then closes its VBDs and removes its socket', async (t) => {
  const rundir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapserve-'));
  const child = spawn(process.execPath, [bin, 'tap', 'serve', '--rundir', rundir, '--name', 'one'], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
    fs.rmSync(rundir, { recursive: true, force: true });
  });
  const socket = await new Promise<string>((resolve, reject) => {
    child.stdout!.once('data', (d: Buffer) => resolve(d.toString().trim()));
    child.once('exit', (code) => reject(new Error(`tap serve exited ${code}`)));
  });
  t.is(socket, path.join(rundir, 'tapdisk', 'one.sock'));
  const client = await TapdiskClient.connect(socket);
  const vbd = await client.create('ram:1M', { domid: 1, device: 51712 });
  client.end();
  t.deepEqual(readDatapaths(registryDir(rundir)).map((e) => [e.minor, e.pid, e.socket]), [[vbd.minor, child.pid, socket]]);
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  t.is(await exited, 0);
  t.false(fs.existsSync(socket));
  t.deepEqual(readDatapaths(registryDir(rundir)), []);
});
