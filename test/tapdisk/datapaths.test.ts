import test from 'ava';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { claimMinor, findChainUsers, readDatapaths, writeDatapath } from '../../src/tapdisk/control/datapaths.js';
import { ERR_DEVICE_BUSY } from '../../src/tapdisk/errors.js';
import { Tapdisk } from '../../src/tapdisk/tapdisk.js';

function tempDir(t: { teardown(fn: () => void): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapreg-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('every VBD is recorded with its process, socket, device and chain; destroy removes it', async (t) => {
  const dir = tempDir(t);
  const registry = path.join(dir, 'registry');
  const tapdisk = new Tapdisk({ aio: null, registryDir: registry });
  t.teardown(() => tapdisk.close());
  const a = await tapdisk.open('ram:1M?id=a', { domid: 1, device: 51712 });
  await tapdisk.listen(path.join(dir, 'td.sock'));
  const b = await tapdisk.open('null:1M', { domid: 2, device: 51728 });
  const entries = readDatapaths(registry);
  t.deepEqual(entries.map((e) => [e.minor, e.pid, e.socket, e.domid, e.device, e.chain, e.state]), [
    [a.minor, process.pid, path.join(dir, 'td.sock'), 1, 51712, ['ram:1M?id=a'], 'running'],
    [b.minor, process.pid, path.join(dir, 'td.sock'), 2, 51728, ['null:1M'], 'running'],
  ]);
  await a.pause();
  t.is(readDatapaths(registry)[0]!.state, 'paused');
  await a.unpause('ram:1M?id=c');
  t.deepEqual(readDatapaths(registry)[0]!.chain, ['ram:1M?id=c']);
  await tapdisk.destroy(b.minor);
  t.deepEqual(readDatapaths(registry).map((e) => e.minor), [a.minor]);
});

test('minors are unique across registrants and a dead process\'s minor is reclaimed', (t) => {
  const registry = path.join(tempDir(t), 'registry');
  const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
  const base = { socket: null, domid: null, device: null, spec: 'aio:/x', chain: ['aio:/x'], state: 'running' };
  t.is(claimMinor(registry, { ...base, pid: process.pid }), 0);
  t.is(claimMinor(registry, { ...base, pid: process.pid }), 1);
  writeDatapath(registry, { ...base, pid: dead, minor: 2 });
  writeDatapath(registry, { ...base, pid: process.pid, minor: 3 });
  t.deepEqual(readDatapaths(registry).map((e) => e.minor), [0, 1, 3], 'the dead process\'s entry is not listed');
  t.is(claimMinor(registry, { ...base, pid: process.pid }), 2, 'its minor is taken again');
  t.is(claimMinor(registry, { ...base, pid: process.pid }), 4);
});

test('findChainUsers finds every VBD whose chain contains an image', (t) => {
  const registry = path.join(tempDir(t), 'registry');
  fs.mkdirSync(registry, { recursive: true });
  const entry = (minor: number, chain: string[]) => ({
    minor, pid: process.pid, socket: '/s', domid: minor, device: 51712, spec: chain[0]!, chain, state: 'running',
  });
  writeDatapath(registry, entry(0, ['vhd:/img/leaf1.vhd', 'vhd:/img/base.vhd']));
  writeDatapath(registry, entry(1, ['vhd:/img/leaf2.vhd', 'vhd:/img/base.vhd']));
  writeDatapath(registry, entry(2, ['aio:/img/other.raw']));
  t.deepEqual(findChainUsers(registry, 'vhd:/img/base.vhd').map((e) => e.minor), [0, 1]);
  t.deepEqual(findChainUsers(registry, '/img/leaf2.vhd').map((e) => e.minor), [1]);
  t.deepEqual(findChainUsers(registry, '/img/none').map((e) => e.minor), []);
});

test('a device served by another tapdisk of the run directory is refused', async (t) => {
  const registry = path.join(tempDir(t), 'registry');
  const first = new Tapdisk({ aio: null, registryDir: registry });
  const second = new Tapdisk({ aio: null, registryDir: registry });
  t.teardown(async () => { await first.close(); await second.close(); });
  const a = await first.open('ram:1M', { domid: 4, device: 51712 });
  const busy = await t.throwsAsync(second.open('ram:1M', { domid: 4, device: 51712 }));
  t.is((busy as { code?: string }).code, ERR_DEVICE_BUSY);
  const b = await second.open('ram:1M', { domid: 4, device: 51728 });
  t.not(a.minor, b.minor);
  await first.destroy(a.minor);
  t.truthy(await second.open('ram:1M', { domid: 4, device: 51712 }));
});
