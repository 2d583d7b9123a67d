import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { outputFlag, parseFlags, sizeFlag, type Command, type CommandContext } from '../../command.js';
import { printTable } from '../../table.js';
import { native } from '../../../native/index.js';
import { SECTOR_SIZE, TdOp, TdStatus, type TdRequest } from '../../../tapdisk/api.js';
import { Tapdisk } from '../../../tapdisk/tapdisk.js';
import type { Vbd } from '../../../tapdisk/vbd.js';
import { createVhd, openVhdChain } from '../../../tapdisk/drivers/vhd/index.js';
import { liveCoalesce } from '../../../tapdisk/drivers/vhd/live/coalesce.js';

const usage = `usage: splitblk bench vhd [--size SIZE] [--dir DIR] [--output=json]

VHD against raw through the tapdisk core (requests queued on a VBD, native AIO), on the same
workloads: first-touch write, overwrite and read, each a sequential pass over the disk in 64 KiB
requests at qd8, best of 3 rounds on fresh images. Then offline coalesce (\`splitblk image
coalesce\` of a child holding every other 2 MiB block, over a full parent) against \`qemu-img
commit\` moving the same data (qemu cannot commit vpc chains, so its chain is qcow2), both as
processes of their own, start-up included; and the guest-visible pause of a live leaf coalesce
under a running writer. Goals: read >= 0.9x raw, first-touch write >= 0.5x
raw, coalesce >= 1.0x qemu-img commit, pause <= 100 ms.
  --size SIZE   disk size (default 256M)
  --dir DIR     where the images are made (default the system temp directory)
Exit codes: 0 done, 1 failed, 2 bad usage.`;

const BLOCK_BYTES = 64 * 1024;
const DEPTH = 8;
const PAGE = 4096;
const ROUNDS = 3;
/** The fill pattern is written in VHD-block-sized pieces (2 MiB, the default block size). */
const FILL_CHUNK_BYTES = 2 << 20;
/** The live coalesce runs on at most this much disk, so the pause measured stays comparable. */
const LIVE_COALESCE_BYTES_MAX = 64 << 20;

interface WorkloadRow {
  workload: string;
  raw: number;
  vhd: number;
  ratio: number;
  goal: number;
}

interface CoalesceResult {
  vhdSeconds: number;
  qemuSeconds: number | null;
  ratio: number | null;
}

/** One sequential pass of `op` over the disk; returns bytes per second. */
function pass(vbd: Vbd, region: number, op: TdOp): Promise<number> {
  const sectorsPer = BLOCK_BYTES / SECTOR_SIZE;
  const total = Math.floor(vbd.info.sectors / sectorsPer);
  const segs = BLOCK_BYTES / PAGE;
  let next = 0;
  let done = 0;
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const issue = (req: TdRequest, slot: number): void => {
      if (next >= total) return;
      req.op = op;
      req.sector = next++ * sectorsPer;
      req.sectors = sectorsPer;
      for (let i = 0; i < segs; i++) {
        req.segRegion[i] = region;
        req.segOffset[i] = slot * BLOCK_BYTES + i * PAGE;
        req.segLength[i] = PAGE;
      }
      req.segments = segs;
      vbd.queue(req);
    };
    for (let slot = 0; slot < DEPTH; slot++) {
      const req: TdRequest = {
        op, sector: 0, sectors: 0, secure: false, segments: 0,
        segRegion: new Uint32Array(segs), segOffset: new Uint32Array(segs), segLength: new Uint32Array(segs),
        tag: slot,
        done: (r, status) => {
          if (status !== TdStatus.Ok) return reject(new Error(`request at sector ${r.sector} failed`));
          if (++done === total) return resolve((total * BLOCK_BYTES) / ((performance.now() - t0) / 1000));
          issue(r, r.tag);
        },
      };
      issue(req, slot);
    }
  });
}

/** Write every `every`-th 2 MiB block of a VHD (every other one for 2) with a pattern. */
async function fill(vhdPath: string, bytes: number, every: number): Promise<number> {
  const io = await openVhdChain(vhdPath);
  const chunk = new Uint8Array(FILL_CHUNK_BYTES).fill(0x5a);
  let written = 0;
  for (let at = 0, i = 0; at < bytes; at += chunk.length, i++) {
    if (i % every !== 0) continue;
    await io.write(at / SECTOR_SIZE, chunk.length / SECTOR_SIZE, [chunk]);
    written += chunk.length;
  }
  await io.close();
  return written;
}

function qemuCommitSeconds(dir: string, bytes: number): number | null {
  try {
    const base = path.join(dir, 'q-base.qcow2');
    const child = path.join(dir, 'q-child.qcow2');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', base, String(bytes)]);
    execFileSync('qemu-io', ['-f', 'qcow2', '-c', `write -P 0x11 0 ${bytes}`, base], { stdio: 'ignore' });
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', base, '-F', 'qcow2', child]);
    const cmds = [];
    for (let at = 0, i = 0; at < bytes; at += FILL_CHUNK_BYTES, i++) if (i % 2 === 0) cmds.push('-c', `write -P 0x5a ${at} ${FILL_CHUNK_BYTES}`);
    execFileSync('qemu-io', ['-f', 'qcow2', ...cmds, child], { stdio: 'ignore' });
    // As before ours: no dirty pages left by the set-up, so the final flush is the tool's own.
    execFileSync('sync');
    const t0 = performance.now();
    execFileSync('qemu-img', ['commit', '-q', '-f', 'qcow2', child]);
    return (performance.now() - t0) / 1000;
  } catch {
    return null;
  }
}

/**
 * A dynamic base filled completely and a differencing child over it with every
 * `childEvery`-th block written: the chain both coalesce measurements start from.
 */
async function filledChain(dir: string, prefix: string, bytes: number, childEvery: number): Promise<string> {
  const base = path.join(dir, `${prefix}-base.vhd`);
  const child = path.join(dir, `${prefix}-child.vhd`);
  await createVhd({ path: base, type: 'dynamic', size: bytes });
  await fill(base, bytes, 1);
  await createVhd({ path: child, type: 'differencing', parent: base });
  await fill(child, bytes, childEvery);
  return child;
}

async function leafCoalescePause(tapdisk: Tapdisk, region: number, dir: string, bytes: number): Promise<number> {
  const leaf = await filledChain(dir, 'lc', bytes, 4);
  const vbd = await tapdisk.open(`vhd:${leaf}`);
  let stop = false;
  const writer = (async () => {
    const req: TdRequest = {
      op: TdOp.Write, sector: 0, sectors: 8, secure: false, segments: 1,
      segRegion: Uint32Array.of(region), segOffset: Uint32Array.of(0), segLength: Uint32Array.of(PAGE),
      tag: 0, done: () => undefined,
    };
    for (let i = 0; !stop; i++) {
      req.sector = ((i * 7919) % (vbd.info.sectors / 8)) * 8;
      await new Promise<void>((resolve) => {
        req.done = () => resolve();
        vbd.queue(req);
      });
    }
  })();
  try {
    const r = await liveCoalesce([vbd], leaf);
    return r.pauseMs;
  } finally {
    stop = true;
    await writer;
    await tapdisk.destroy(vbd.minor);
  }
}

/**
 * Raw against VHD on fresh images per round (a first touch happens once); the best of the
 * rounds counts, raw and VHD alternating so both see the same machine state.
 */
async function rawVsVhd(tapdisk: Tapdisk, region: number, dir: string, bytes: number): Promise<WorkloadRow[]> {
  const results: Record<string, Record<string, number>> = { raw: {}, vhd: {} };
  const best = (kind: string, w: string, v: number) => (results[kind]![w] = Math.max(results[kind]![w] ?? 0, v));
  for (let round = 0; round < ROUNDS; round++) {
    const raw = path.join(dir, 'disk.raw');
    const vhd = path.join(dir, 'disk.vhd');
    fs.rmSync(raw, { force: true });
    fs.rmSync(vhd, { force: true });
    fs.closeSync(fs.openSync(raw, 'w'));
    fs.truncateSync(raw, bytes);
    await createVhd({ path: vhd, type: 'dynamic', size: bytes });
    for (const [kind, spec] of [['raw', `aio:${raw}`], ['vhd', `vhd:${vhd}`]] as const) {
      const vbd = await tapdisk.open(spec);
      best(kind, 'first-touch-write', await pass(vbd, region, TdOp.Write));
      best(kind, 'overwrite', await pass(vbd, region, TdOp.Write));
      best(kind, 'read', await pass(vbd, region, TdOp.Read));
      await tapdisk.destroy(vbd.minor);
    }
  }
  const goals: Record<string, number> = { 'first-touch-write': 0.5, overwrite: 0.9, read: 0.9 };
  return Object.keys(goals).map((w) => {
    const r = results['raw']![w]!;
    const v = results['vhd']![w]!;
    return { workload: w, raw: r, vhd: v, ratio: v / r, goal: goals[w]! };
  });
}

/**
 * `splitblk image coalesce CHILD` in a process of its own (the CLI's own entry point in this
 * build), as `qemu-img commit` runs: seconds, process start included on both sides. A `sync`
 * first, so that the dirty pages the set-up left are not written back in the tool's own flush.
 */
function cliCoalesceSeconds(child: string): number {
  execFileSync('sync');
  const main = new URL('../../main.js', import.meta.url).href;
  const script = `const m = await import(${JSON.stringify(main)}); process.exitCode = await m.main(['image', 'coalesce', ${JSON.stringify(child)}]);`;
  const t0 = performance.now();
  execFileSync(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'ignore', 'pipe'] });
  return (performance.now() - t0) / 1000;
}

/** Offline coalesce of a half-written child against `qemu-img commit` moving the same data. */
async function coalesceVsQemu(dir: string, bytes: number): Promise<CoalesceResult> {
  const child = await filledChain(dir, 'c', bytes, 2);
  const vhdSeconds = cliCoalesceSeconds(child);
  const qemuSeconds = qemuCommitSeconds(dir, bytes);
  return { vhdSeconds, qemuSeconds, ratio: qemuSeconds === null ? null : qemuSeconds / vhdSeconds };
}

function printReport(ctx: CommandContext, json: boolean, rows: WorkloadRow[], coalesce: CoalesceResult | undefined, pauseMs: number): void {
  if (json) {
    ctx.stdout.write(JSON.stringify({ workloads: rows.map((r) => ({ workload: r.workload, 'raw-bytes-per-second': r.raw, 'vhd-bytes-per-second': r.vhd, ratio: r.ratio, goal: r.goal })), coalesce: coalesce && { 'vhd-seconds': coalesce.vhdSeconds, 'qemu-img-commit-seconds': coalesce.qemuSeconds, ratio: coalesce.ratio }, 'leaf-coalesce-pause-ms': pauseMs }) + '\n');
    return;
  }
  const mib = (n: number) => (n / (1 << 20)).toFixed(1);
  printTable(ctx.stdout, ['workload', 'raw MiB/s', 'vhd MiB/s', 'ratio', 'goal'], rows.map((r) => ({
    workload: r.workload, 'raw MiB/s': mib(r.raw), 'vhd MiB/s': mib(r.vhd), ratio: r.ratio.toFixed(2), goal: `>= ${r.goal}`,
  })));
  if (coalesce) {
    ctx.stdout.write(`\ncoalesce: ${coalesce.vhdSeconds.toFixed(3)} s; qemu-img commit (qcow2, same data): ` +
      `${coalesce.qemuSeconds === null ? 'n/a' : `${coalesce.qemuSeconds.toFixed(3)} s; ratio ${coalesce.ratio!.toFixed(2)} (goal >= 1.0)`}\n`);
  }
  ctx.stdout.write(`live leaf coalesce: guest-visible pause ${pauseMs.toFixed(1)} ms (goal <= 100 ms)\n`);
}

export const command: Command = {
  summary: 'VHD against raw, coalesce against qemu-img commit, live coalesce pause',
  usage,
  async run(argv, ctx) {
    const { values } = parseFlags(argv, { size: { type: 'string' }, dir: { type: 'string' }, output: { type: 'string' } }, false);
    const format = outputFlag(values.output);
    const bytes = sizeFlag('size', values.size, 256 << 20);
    const dir = fs.mkdtempSync(path.join(values.dir ?? os.tmpdir(), 'splitblk-bench-vhd-'));
    const aio = native.aio.create({ depthMax: 256, iovecsMax: 8192, engine: 'auto' });
    const tapdisk = new Tapdisk({ aio });
    const region = tapdisk.registerRegion(new ArrayBuffer(DEPTH * BLOCK_BYTES));
    let rows: WorkloadRow[] = [];
    let coalesce: CoalesceResult | undefined;
    let pauseMs = 0;
    try {
      rows = await rawVsVhd(tapdisk, region, dir, bytes);
      coalesce = await coalesceVsQemu(dir, bytes);
      pauseMs = await leafCoalescePause(tapdisk, region, dir, Math.min(bytes, LIVE_COALESCE_BYTES_MAX));
    } finally {
      await tapdisk.close();
      await aio.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
    printReport(ctx, format === 'json', rows, coalesce, pauseMs);
    return 0;
  },
};
