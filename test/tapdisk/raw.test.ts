import test, { type ExecutionContext } from 'ava';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { native, type AioContext, type Mapping, type SharedMemoryFile } from '../../src/native/index.js';
import { TdOp, TdStatus } from '../../src/tapdisk/api.js';
import { ERR_SIZE_CHANGED } from '../../src/tapdisk/errors.js';
import { Tapdisk } from '../../src/tapdisk/tapdisk.js';
import { makeRequest, request, setRequest, submit } from './helpers.js';

const PAGE = 4096;
const engines: ('threads' | 'io_uring')[] = native.aio.ioUringAvailable() ? ['threads', 'io_uring'] : ['threads'];

interface Setup {
  dir: string;
  file: string;
  content: Buffer;
  tapdisk: Tapdisk;
  aio: AioContext;
  /** "Guest memory": pages of a shared-memory file, mapped as blkback maps granted pages. */
  memory: Uint8Array;
  region: number;
}

async function setup(t: ExecutionContext, engine: 'threads' | 'io_uring', bytes = 4 << 20): Promise<Setup> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapraw-'));
  const file = path.join(dir, 'disk.img');
  const content = randomBytes(bytes);
  fs.writeFileSync(file, content);
  const shmPath = path.join('/dev/shm', `tapraw-${process.pid}-${path.basename(dir)}`);
  const shm: SharedMemoryFile = native.shm.create(shmPath, 4 << 20, { exclusive: true });
  const mapping: Mapping = shm.map(0, 4 << 20, true);
  const aio = native.aio.create({ depthMax: 64, iovecsMax: 4096, engine });
  const tapdisk = new Tapdisk({ aio });
  const region = tapdisk.registerRegion(mapping.buffer);
  t.teardown(async () => {
    await tapdisk.close();
    tapdisk.unregisterRegion(region);
    await aio.close();
    mapping.close();
    shm.close();
    fs.rmSync(shmPath, { force: true });
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return { dir, file, content, tapdisk, aio, memory: new Uint8Array(mapping.buffer), region };
}

for (const engine of engines) {
  test(`${engine}: reads and writes go between guest pages and the file with zero bytes copied`, async (t) => {
    const s = await setup(t, engine);
    const vbd = await s.tapdisk.open(`aio:${s.file}`);
    t.is(vbd.info.sectors, (4 << 20) / 512);
    t.true(vbd.info.discard);
    // Read 1 MiB at sector 2048 into memory offset 0.
    t.deepEqual(await request(vbd, TdOp.Read, 2048, 2048, s.region, 0), { status: TdStatus.Ok, errno: 0 });
    t.true(Buffer.from(s.memory.subarray(0, 1 << 20)).equals(s.content.subarray(1 << 20, 2 << 20)));
    // Write 64 KiB of a new pattern at sector 0 and find it in the file.
    s.memory.fill(0x5a, 2 << 20, (2 << 20) + 65536);
    t.is((await request(vbd, TdOp.Write, 0, 128, s.region, 2 << 20)).status, TdStatus.Ok);
    t.is((await request(vbd, TdOp.Flush, 0, 0, s.region)).status, TdStatus.Ok);
    const onDisk = fs.readFileSync(s.file);
    t.true(onDisk.subarray(0, 65536).every((b) => b === 0x5a));
    t.true(onDisk.subarray(65536).equals(s.content.subarray(65536)));
    const stats = vbd.stats();
    t.is(stats.bytesCopied, 0, 'the raw path never copies');
    t.is(stats.read.sectors, 2048);
    t.is(stats.write.sectors, 128);
  });

  test(`${engine}: scattered pages, merged requests and requests over the iovec limit`, async (t) => {
    const s = await setup(t, engine);
    const vbd = await s.tapdisk.open(`raw:${s.file}`);
    // 16 contiguous 4 KiB requests whose pages lie in reverse order in memory: one merged readv.
    const reqs = Array.from({ length: 16 }, (_, i) => setRequest(makeRequest(1), TdOp.Read, i * 8, 8, s.region, (15 - i) * PAGE));
    const results = await Promise.all(reqs.map((r) => submit(vbd, r)));
    t.true(results.every((r) => r.status === TdStatus.Ok));
    for (let i = 0; i < 16; i++) {
      t.true(Buffer.from(s.memory.subarray((15 - i) * PAGE, (16 - i) * PAGE)).equals(s.content.subarray(i * PAGE, (i + 1) * PAGE)));
    }
    t.is(vbd.stats().merges, 15);
    // One request of 2048 segments of one sector each: two vectored operations of 1024.
    const big = makeRequest(2048);
    big.op = TdOp.Write;
    big.sector = 4096;
    big.sectors = 2048;
    big.segments = 2048;
    for (let k = 0; k < 2048; k++) {
      big.segRegion[k] = s.region;
      big.segOffset[k] = (1 << 20) + k * 512;
      big.segLength[k] = 512;
    }
    const pattern = randomBytes(1 << 20);
    s.memory.set(pattern, 1 << 20);
    t.is((await submit(vbd, big)).status, TdStatus.Ok);
    t.true(fs.readFileSync(s.file).subarray(2 << 20, 3 << 20).equals(pattern));
    t.is(vbd.stats().bytesCopied, 0);
  });
}

test('discard punches a hole that reads back as zeros', async (t) => {
  const s = await setup(t, 'threads');
  const vbd = await s.tapdisk.open(`aio:${s.file}`);
  const before = fs.statSync(s.file).blocks;
  t.is((await request(vbd, TdOp.Discard, 0, 2048, s.region)).status, TdStatus.Ok);
  t.true(fs.statSync(s.file).blocks < before, 'the file has fewer blocks');
  t.is((await request(vbd, TdOp.Read, 0, 8, s.region, 0)).status, TdStatus.Ok);
  t.true(s.memory.subarray(0, PAGE).every((b) => b === 0));
  t.is(fs.statSync(s.file).size, 4 << 20, 'the size is kept');
});

test('O_DIRECT images work with page-aligned guest memory', async (t) => {
  const s = await setup(t, 'threads');
  let vbd;
  try {
    vbd = await s.tapdisk.open(`aio:${s.file}`, { direct: true });
  } catch (error) {
    // tmpfs and some overlay filesystems refuse O_DIRECT.
    if (process.env['CI'] === 'true') throw error;
    t.log(`O_DIRECT not supported here: ${(error as Error).message}`);
    t.pass();
    return;
  }
  t.is((await request(vbd, TdOp.Read, 8, 64, s.region, 0)).status, TdStatus.Ok);
  t.true(Buffer.from(s.memory.subarray(0, 32768)).equals(s.content.subarray(PAGE, PAGE + 32768)));
  t.is(vbd.stats().bytesCopied, 0);
});

test('pause closes the file; unpause reopens it and refuses a file of another size', async (t) => {
  const s = await setup(t, 'threads');
  const vbd = await s.tapdisk.open(`aio:${s.file}`);
  s.memory.fill(0x33, 0, PAGE);
  t.is((await request(vbd, TdOp.Write, 0, 8, s.region, 0)).status, TdStatus.Ok);
  await vbd.pause();
  // While paused the file can be replaced (as a snapshot or coalesce would) ...
  const copy = path.join(s.dir, 'copy.img');
  fs.copyFileSync(s.file, copy);
  const small = path.join(s.dir, 'small.img');
  fs.writeFileSync(small, Buffer.alloc(1 << 20));
  const refused = await t.throwsAsync(vbd.unpause(`aio:${small}`));
  t.is((refused as { code?: string }).code, ERR_SIZE_CHANGED);
  await vbd.unpause(`aio:${copy}`);
  t.deepEqual(vbd.info.chain, [`aio:${copy}`]);
  t.is((await request(vbd, TdOp.Read, 0, 8, s.region, PAGE)).status, TdStatus.Ok);
  t.true(s.memory.subarray(PAGE, 2 * PAGE).every((b) => b === 0x33));
});

test('a read-only image refuses writes', async (t) => {
  const s = await setup(t, 'threads');
  const vbd = await s.tapdisk.open(`aio:${s.file}`, { readonly: true });
  t.true(vbd.info.readonly);
  t.false(vbd.info.discard);
  t.is((await request(vbd, TdOp.Write, 0, 8, s.region)).status, TdStatus.Error);
  t.is((await request(vbd, TdOp.Read, 0, 8, s.region)).status, TdStatus.Ok);
});

test('more operations than AIO entries wait in the backlog and all complete', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapraw-'));
  const file = path.join(dir, 'disk.img');
  const content = randomBytes(1 << 20);
  fs.writeFileSync(file, content);
  const aio = native.aio.create({ depthMax: 4, iovecsMax: 64, engine: 'threads' });
  const tapdisk = new Tapdisk({ aio });
  const memory = new Uint8Array(1 << 20);
  const region = tapdisk.registerRegion(memory.buffer);
  t.teardown(async () => {
    await tapdisk.close();
    await aio.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const a = await tapdisk.open(`aio:${file}`);
  const b = await tapdisk.open(`aio:${file}`);
  // Every other 4 KiB block, so nothing merges: 64 single-page reads over two VBDs.
  const all = [];
  for (let i = 0; i < 64; i++) {
    all.push(request(i % 2 ? a : b, TdOp.Read, i * 16, 8, region, i * 16 * 512));
  }
  t.true((await Promise.all(all)).every((r) => r.status === TdStatus.Ok));
  for (let i = 0; i < 64; i++) {
    const at = i * 16 * 512;
    t.true(Buffer.from(memory.subarray(at, at + PAGE)).equals(content.subarray(at, at + PAGE)));
  }
});

test('a block device: size from sysfs, reads, writes and discard', async (t) => {
  const s = await setup(t, 'threads', 8 << 20);
  let device: string;
  try {
    device = execFileSync('losetup', ['--find', '--show', s.file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  } catch (error) {
    // Loop devices need root and a kernel that offers them; this is not an interop tool.
    t.log(`no loop device here (${(error as Error).message.split('\n')[0]}); skipped`);
    t.pass();
    return;
  }
  t.teardown(() => execFileSync('losetup', ['--detach', device]));
  const vbd = await s.tapdisk.open(`raw:${device}`);
  t.is(vbd.info.sectors, (8 << 20) / 512);
  t.is((await request(vbd, TdOp.Read, 16, 16, s.region, 0)).status, TdStatus.Ok);
  t.true(Buffer.from(s.memory.subarray(0, 8192)).equals(s.content.subarray(8192, 16384)));
  s.memory.fill(0x44, 0, 8192);
  t.is((await request(vbd, TdOp.Write, 0, 16, s.region, 0)).status, TdStatus.Ok);
  t.is((await request(vbd, TdOp.Flush, 0, 0, s.region)).status, TdStatus.Ok);
  t.is((await request(vbd, TdOp.Discard, 8, 8, s.region)).status, TdStatus.Ok);
  t.is((await request(vbd, TdOp.Read, 0, 16, s.region, 65536)).status, TdStatus.Ok);
  t.true(s.memory.subarray(65536, 65536 + 4096).every((b) => b === 0x44));
  t.true(s.memory.subarray(65536 + 4096, 65536 + 8192).every((b) => b === 0));
  t.is(vbd.stats().bytesCopied, 0);
});
