import * as fs from 'node:fs';
import * as path from 'node:path';

import test from 'ava';

import { native, PAGE_SIZE } from '../../src/native/index.js';
import { SplitblkError } from '../../src/util/errors.js';
import { runChild, tempDir } from './helpers.js';

function mapsOf(file: string): number {
  return fs.readFileSync('/proc/self/maps', 'utf8').split('\n').filter((line) => line.endsWith(file)).length;
}

test('create, size, resize and open', (t) => {
  const { dir, cleanup } = tempDir('shm');
  t.teardown(cleanup);
  const file = native.shm.create(path.join(dir, 'mem'), 2 * PAGE_SIZE);
  t.is(file.size(), 2 * PAGE_SIZE);
  t.is(fs.statSync(file.path).mode & 0o777, 0o600);
  file.resize(4 * PAGE_SIZE);
  t.is(file.size(), 4 * PAGE_SIZE);
  const again = native.shm.open(file.path);
  t.is(again.size(), 4 * PAGE_SIZE);
  const error = t.throws(() => native.shm.create(file.path, PAGE_SIZE, { exclusive: true }));
  t.true(error instanceof SplitblkError);
  t.is((error as SplitblkError).code, 'SPLITBLK_ERR_SHM');
  t.is((t.throws(() => native.shm.open(path.join(dir, 'absent'))) as SplitblkError).code, 'SPLITBLK_ERR_SHM');
  again.close();
  file.close();
  file.close();
  t.is((t.throws(() => file.size()) as SplitblkError).code, 'SPLITBLK_ERR_CLOSED');
});

test('two mappings share the same bytes, and survive closing the descriptor', (t) => {
  const { dir, cleanup } = tempDir('shm');
  t.teardown(cleanup);
  const file = native.shm.create(path.join(dir, 'mem'), 4 * PAGE_SIZE);
  const whole = file.map(0, 4 * PAGE_SIZE, true);
  const tail = file.map(2 * PAGE_SIZE, 2 * PAGE_SIZE, false);
  file.close();
  t.false(tail.writable);
  t.not(native.bufferAddress(whole.buffer), native.bufferAddress(tail.buffer));
  new Uint8Array(whole.buffer).set([1, 2, 3], 2 * PAGE_SIZE + 10);
  t.deepEqual([...new Uint8Array(tail.buffer, 10, 3)], [1, 2, 3]);
  // The same ArrayBuffer through another view is the same memory, not a copy.
  t.is(native.bufferAddress(whole.buffer), native.bufferAddress(new Uint8Array(whole.buffer).buffer));
  whole.close();
  tail.close();
});

test('a separate process sees and changes the same pages', async (t) => {
  const { dir, cleanup } = tempDir('shm');
  t.teardown(cleanup);
  const file = native.shm.create(path.join(dir, 'mem'), 2 * PAGE_SIZE);
  const mapping = file.map(0, 2 * PAGE_SIZE, true);
  const bytes = new Uint8Array(mapping.buffer);
  bytes[PAGE_SIZE + 5] = 0x5a;
  const result = await runChild('read-write', [file.path, String(PAGE_SIZE + 5), String(0x5a), String(0xa5)]);
  t.is(result.code, 0, result.stderr);
  t.deepEqual(result.lines[0], { seen: 0x5a, ok: true });
  t.is(bytes[PAGE_SIZE + 5], 0xa5);
  mapping.close();
  file.close();
});

test('mapPages places file pages in the order asked, aliases included', (t) => {
  const { dir, cleanup } = tempDir('shm');
  t.teardown(cleanup);
  const file = native.shm.create(path.join(dir, 'mem'), 4 * PAGE_SIZE);
  const whole = file.map(0, 4 * PAGE_SIZE, true);
  const bytes = new Uint8Array(whole.buffer);
  for (let page = 0; page < 4; page++) bytes.fill(page + 1, page * PAGE_SIZE, (page + 1) * PAGE_SIZE);
  const order = new Uint32Array([3, 1, 2, 1, 0xffff]);
  const view = file.mapPages(order, 4, true);
  t.is(view.buffer.byteLength, 4 * PAGE_SIZE);
  const seen = new Uint8Array(view.buffer);
  t.deepEqual([0, 1, 2, 3].map((i) => seen[i * PAGE_SIZE]), [4, 2, 3, 2]);
  t.is(seen[4 * PAGE_SIZE - 1], 2);
  // Writes land in the file page named, visible through the alias and the whole mapping.
  seen[PAGE_SIZE + 7] = 0x77;
  t.is(seen[3 * PAGE_SIZE + 7], 0x77);
  t.is(bytes[PAGE_SIZE + 7], 0x77);
  view.close();
  whole.close();
  file.close();
});

test('mapping beyond the end of the file is refused with SPLITBLK_ERR_MAP', (t) => {
  const { dir, cleanup } = tempDir('shm');
  t.teardown(cleanup);
  const file = native.shm.create(path.join(dir, 'mem'), 2 * PAGE_SIZE);
  const pages = t.throws(() => file.mapPages(new Uint32Array([0, 2]), 2, false)) as SplitblkError;
  t.is(pages.code, 'SPLITBLK_ERR_MAP');
  t.is(pages.fields.page, 2);
  t.is(pages.fields.index, 1);
  t.is((t.throws(() => file.map(PAGE_SIZE, 2 * PAGE_SIZE, false)) as SplitblkError).code, 'SPLITBLK_ERR_MAP');
  t.is((t.throws(() => file.map(100, PAGE_SIZE, false)) as SplitblkError).code, 'SPLITBLK_ERR_MAP');
  t.is((t.throws(() => file.mapPages(new Uint32Array([0]), 0, false)) as SplitblkError).code, 'SPLITBLK_ERR_MAP');
  t.is((t.throws(() => file.mapPages(new Uint32Array([0]), 2, false)) as SplitblkError).code, 'SPLITBLK_ERR_MAP');
  t.is(mapsOf(file.path), 0);
  const readOnly = native.shm.open(file.path, { writable: false });
  t.is((t.throws(() => readOnly.map(0, PAGE_SIZE, true)) as SplitblkError).code, 'SPLITBLK_ERR_MAP');
  readOnly.close();
  file.close();
});

test('a write through a read-only mapping faults (in a child; the parent survives)', async (t) => {
  const { dir, cleanup } = tempDir('shm');
  t.teardown(cleanup);
  const file = native.shm.create(path.join(dir, 'mem'), PAGE_SIZE);
  const mapping = file.map(0, PAGE_SIZE, true);
  new Uint8Array(mapping.buffer)[0] = 0x42;
  const result = await runChild('write-readonly', [file.path], [], true);
  t.deepEqual(result.lines, [{ read: 0x42 }]);
  t.true(result.signal === 'SIGSEGV' || result.signal === 'SIGBUS', `signal ${result.signal}, code ${result.code}`);
  t.is(new Uint8Array(mapping.buffer)[0], 0x42);
  mapping.close();
  file.close();
});

test('close() unmaps and detaches; it is idempotent', (t) => {
  const { dir, cleanup } = tempDir('shm');
  t.teardown(cleanup);
  const file = native.shm.create(path.join(dir, 'mem'), 2 * PAGE_SIZE);
  const mapping = file.map(0, 2 * PAGE_SIZE, true);
  const pages = file.mapPages(new Uint32Array([1, 0]), 2, true);
  const view = new Uint8Array(mapping.buffer);
  t.is(mapsOf(file.path), 3);
  mapping.close();
  pages.close();
  t.is(mapping.buffer.byteLength, 0);
  t.is(pages.buffer.byteLength, 0);
  t.is(view.length, 0);
  t.throws(() => view.at(0), { instanceOf: TypeError });
  t.is(Reflect.get(view, 0) as unknown, undefined);
  t.is(mapsOf(file.path), 0);
  t.notThrows(() => mapping.close());
  file.close();
});

test('finalizers unmap mappings that were never closed, and only those', async (t) => {
  const { dir, cleanup } = tempDir('shm');
  t.teardown(cleanup);
  const file = native.shm.create(path.join(dir, 'mem'), 2 * PAGE_SIZE);
  file.close();
  const result = await runChild('finalize', [file.path], ['--expose-gc']);
  t.is(result.code, 0, result.stderr);
  t.deepEqual(result.lines[0], { leaked: 32 + 2, collected: true, survivorOk: true, after: 0 });
});
