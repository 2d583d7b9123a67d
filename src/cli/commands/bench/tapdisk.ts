import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { intFlag, outputFlag, parseFlags, sizeFlag, type Command, type CommandContext } from '../../command.js';
import { printTable } from '../../table.js';
import { native } from '../../../native/index.js';
import { benchVbd } from '../../../tapdisk/bench.js';
import { systemClock } from '../../../tapdisk/clock.js';
import { Tapdisk } from '../../../tapdisk/tapdisk.js';

const usage = `usage: splitblk bench tapdisk [--size SIZE] [--seconds N] [--dir DIR] [--no-ring] [--output=json]

Reads a raw image in the page cache three ways, in one run, and prints IOPS, MiB/s and ratios:
  ring   a frontend in a separate process (splitblk frontend, as domain 1) through the shared
         ring, blkback and tapdisk of a 'splitblk up' started for the run (own run directory);
  core   requests queued straight on a tapdisk VBD in this process (no ring);
  fio    fio on the same file: io_uring at the same depth, psync at depth 1.
Workloads: 4K random read at qd32, 64K and 1M sequential read at qd1 (1M uses indirect
descriptors). Goals: ring >= 0.6x the best fio engine at 4K, >= 0.8x fio psync at 64K and 1M.
  --size SIZE   image size (default 256M)
  --seconds N   per workload and engine (default 3)
  --dir DIR     where the image is made (default the system temp directory; not tmpfs, so
                fio and the backend see a real filesystem's page cache)
  --no-ring     skip the ring (no services started)
Exit codes: 0 done, 1 failed, 2 bad usage.`;

interface Workload {
  name: string;
  pattern: 'randread' | 'read';
  blockBytes: number;
  depth: number;
  /** The fio engine the goal compares with, and the ratio wanted. */
  goalEngine: 'best' | 'psync';
  goal: number;
}

const PAGE_BYTES = 4096;

const workloads: Workload[] = [
  { name: '4k-randread-qd32', pattern: 'randread', blockBytes: 4096, depth: 32, goalEngine: 'best', goal: 0.6 },
  { name: '64k-read-qd1', pattern: 'read', blockBytes: 65536, depth: 1, goalEngine: 'psync', goal: 0.8 },
  { name: '1m-read-qd1', pattern: 'read', blockBytes: 1 << 20, depth: 1, goalEngine: 'psync', goal: 0.8 },
];

interface Row {
  workload: string;
  engine: string;
  iops: number;
  'bytes-per-second': number;
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function exec(cmd: string, args: string[], timeoutMs: number): Promise<Run> {
  return new Promise((resolve) => {
    execFile(cmd, args, { maxBuffer: 16 << 20, timeout: timeoutMs }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
  });
}

async function fio(file: string, w: Workload, engine: 'io_uring' | 'psync', seconds: number): Promise<Row | null> {
  const r = await exec('fio', [
    '--name=bench', `--filename=${file}`, `--rw=${w.pattern}`, `--bs=${w.blockBytes}`,
    `--iodepth=${engine === 'psync' ? 1 : w.depth}`, `--ioengine=${engine}`, `--runtime=${seconds}`,
    // Page-aligned buffers, as the backend's granted pages are (see benchVbd for why it matters).
    '--time_based', '--invalidate=0', `--iomem_align=${PAGE_BYTES}`, '--output-format=json',
  ], (seconds + 30) * 1000);
  if (r.code !== 0) return null;
  try {
    const read = JSON.parse(r.stdout).jobs[0].read;
    return { workload: w.name, engine: `fio ${engine}`, iops: read.iops, 'bytes-per-second': read.bw_bytes };
  } catch {
    return null;
  }
}

async function core(file: string, seconds: number): Promise<Row[]> {
  const aio = native.aio.create({ depthMax: 256, iovecsMax: 8192 });
  const tapdisk = new Tapdisk({ aio });
  // Page-aligned buffers, as granted pages are (see benchVbd): skip to the first page boundary.
  const buffer = new ArrayBuffer((32 << 20) + PAGE_BYTES);
  const regionOffset = (PAGE_BYTES - Number(native.bufferAddress(buffer) % BigInt(PAGE_BYTES))) % PAGE_BYTES;
  const region = tapdisk.registerRegion(buffer);
  const rows: Row[] = [];
  try {
    const vbd = await tapdisk.open(`aio:${file}`);
    for (const w of workloads) {
      const r = await benchVbd(vbd, region, { ...w, seconds, clock: systemClock, regionOffset });
      rows.push({ workload: w.name, engine: `core ${aio.engine}`, iops: r.iops, 'bytes-per-second': r.bytesPerSecond });
    }
  } finally {
    await tapdisk.close();
    await aio.close();
  }
  return rows;
}

/** The whole stack as separate processes: services, a guest domain, the disk, a frontend. */
async function ring(ctx: CommandContext, file: string, seconds: number): Promise<Row[]> {
  const [node, ...script] = ctx.selfArgv;
  const rundir = fs.mkdtempSync(path.join('/dev/shm', 'splitblk-bench-'));
  const splitblk = async (...args: string[]): Promise<string> => {
    const r = await exec(node!, [...script, ...args, '--rundir', rundir], (seconds + 60) * 1000);
    if (r.code !== 0) throw new Error(`splitblk ${args[0]} failed (${r.code}): ${r.stderr.trim()}`);
    return r.stdout;
  };
  const rows: Row[] = [];
  try {
    await splitblk('up', '--detach');
    const domid = (await splitblk('domain', 'create', '--memory', '256')).trim();
    // One disk per workload: each frontend run closes its device at the end.
    const vdevs = workloads.map((_, i) => `xvd${String.fromCharCode(97 + i)}`);
    for (const vdev of vdevs) await splitblk('attach', domid, `format=raw, vdev=${vdev}, access=ro, target=${file}`);
    for (const [i, w] of workloads.entries()) {
      const out = await splitblk('frontend', domid, vdevs[i]!, '--rw', w.pattern, '--bs', String(w.blockBytes),
        '--iodepth', String(w.depth), '--runtime', String(seconds), '--output=json');
      const report = JSON.parse(out) as { 'bytes-read': number; seconds: number };
      // IOPS of whole blocks, whatever the frontend split them into on the ring.
      const bytesPerSecond = report['bytes-read'] / report.seconds;
      rows.push({ workload: w.name, engine: 'ring', iops: bytesPerSecond / w.blockBytes, 'bytes-per-second': bytesPerSecond });
    }
  } finally {
    await exec(node!, [...script, 'down', '--rundir', rundir], 60_000);
    fs.rmSync(rundir, { recursive: true, force: true });
  }
  return rows;
}

function ratios(rows: Row[]) {
  return workloads.flatMap((w) => {
    const fios = rows.filter((r) => r.workload === w.name && r.engine.startsWith('fio'));
    const reference = w.goalEngine === 'best'
      ? Math.max(0, ...fios.map((r) => r.iops))
      : fios.find((r) => r.engine === 'fio psync')?.iops ?? 0;
    return rows.filter((r) => r.workload === w.name && !r.engine.startsWith('fio')).map((r) => ({
      workload: w.name,
      engine: r.engine,
      against: w.goalEngine === 'best' ? 'best fio' : 'fio psync',
      ratio: reference > 0 ? r.iops / reference : null,
      goal: w.goal,
    }));
  });
}

export const command: Command = {
  summary: 'tapdisk through the ring and alone, against fio on the same file',
  usage,
  async run(argv, ctx) {
    const { values } = parseFlags(argv, {
      size: { type: 'string' }, seconds: { type: 'string' }, dir: { type: 'string' },
      'no-ring': { type: 'boolean' }, output: { type: 'string' },
    }, false);
    const format = outputFlag(values.output);
    const bytes = sizeFlag('size', values.size, 256 << 20);
    const seconds = intFlag('seconds', values.seconds, 3, 1, 600);
    const dir = fs.mkdtempSync(path.join(values.dir ?? os.tmpdir(), 'splitblk-bench-'));
    const file = path.join(dir, 'disk.img');
    const rows: Row[] = [];
    try {
      // Varied contents, then read once so every workload runs from the page cache.
      const fd = fs.openSync(file, 'w');
      const chunk = Buffer.alloc(1 << 20);
      for (let at = 0; at < bytes; at += chunk.length) fs.writeSync(fd, chunk.fill((at >>> 20) & 0xff));
      fs.closeSync(fd);
      fs.readFileSync(file);
      if (!values['no-ring']) rows.push(...await ring(ctx, file, seconds));
      rows.push(...await core(file, seconds));
      for (const w of workloads) {
        for (const engine of ['io_uring', 'psync'] as const) {
          const f = await fio(file, w, engine, seconds);
          if (f) rows.push(f);
        }
      }
    } catch (error) {
      ctx.stderr.write(`splitblk bench tapdisk: ${(error as Error).message}\n`);
      return 1;
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    const r = ratios(rows);
    if (format === 'json') {
      ctx.stdout.write(JSON.stringify({ results: rows, ratios: r }) + '\n');
      return 0;
    }
    printTable(ctx.stdout, ['workload', 'engine', 'iops', 'MiB/s'], rows.map((row) => ({
      workload: row.workload, engine: row.engine, iops: Math.round(row.iops),
      'MiB/s': (row['bytes-per-second'] / (1 << 20)).toFixed(1),
    })));
    ctx.stdout.write('\n');
    printTable(ctx.stdout, ['workload', 'engine', 'against', 'ratio', 'goal'], r.map((x) => ({
      workload: x.workload, engine: x.engine, against: x.against,
      ratio: x.ratio === null ? 'n/a (no fio)' : x.ratio.toFixed(2), goal: `>= ${x.goal}`,
    })));
    return 0;
  },
};
