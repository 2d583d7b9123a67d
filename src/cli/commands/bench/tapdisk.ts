import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { intFlag, outputFlag, parseFlags, sizeFlag, type Command } from '../../command.js';
import { printTable } from '../../table.js';
import { native } from '../../../native/index.js';
import { benchVbd } from '../../../tapdisk/bench.js';
import { systemClock } from '../../../tapdisk/clock.js';
import { Tapdisk } from '../../../tapdisk/tapdisk.js';

const usage = `usage: splitblk bench tapdisk [--size SIZE] [--seconds N] [--dir DIR] [--engine auto|io_uring|threads]
                              [--output=json]

The tapdisk core alone (requests queued straight on a VBD, no ring): 4K random read at qd32 and
64K / 1M sequential read at qd4 from a raw image in the page cache, and in the same run fio on
the same file (io_uring at the same depth, psync at depth 1). Prints IOPS, MiB/s and the ratio
to the best fio engine. The end-to-end numbers through the ring are blkback's benchmark.
  --size SIZE     image size (default 256M)
  --seconds N     per workload and engine (default 3)
  --dir DIR       where the image is made (default the system temp directory)
Exit codes: 0 done, 1 failed, 2 bad usage.`;

interface Workload {
  name: string;
  pattern: 'randread' | 'read';
  blockBytes: number;
  depth: number;
}

const workloads: Workload[] = [
  { name: '4k-randread-qd32', pattern: 'randread', blockBytes: 4096, depth: 32 },
  { name: '64k-read-qd4', pattern: 'read', blockBytes: 65536, depth: 4 },
  { name: '1m-read-qd4', pattern: 'read', blockBytes: 1 << 20, depth: 4 },
];

interface Row {
  workload: string;
  engine: string;
  iops: number;
  'bytes-per-second': number;
}

function fio(file: string, w: Workload, engine: 'io_uring' | 'psync', seconds: number): Promise<Row | null> {
  const args = [
    '--name=bench', `--filename=${file}`, `--rw=${w.pattern}`, `--bs=${w.blockBytes}`,
    `--iodepth=${engine === 'psync' ? 1 : w.depth}`, `--ioengine=${engine}`, `--runtime=${seconds}`,
    '--time_based', '--invalidate=0', '--output-format=json',
  ];
  return new Promise((resolve) => {
    execFile('fio', args, { maxBuffer: 16 << 20 }, (error, stdout) => {
      if (error) return resolve(null);
      try {
        const read = JSON.parse(stdout).jobs[0].read;
        resolve({ workload: w.name, engine: `fio ${engine}`, iops: read.iops, 'bytes-per-second': read.bw_bytes });
      } catch {
        resolve(null);
      }
    });
  });
}

export const command: Command = {
  summary: 'the tapdisk core against fio on the same file',
  usage,
  async run(argv, ctx) {
    const { values } = parseFlags(argv, {
      size: { type: 'string' }, seconds: { type: 'string' }, dir: { type: 'string' },
      engine: { type: 'string' }, output: { type: 'string' },
    }, false);
    const format = outputFlag(values.output);
    const bytes = sizeFlag('size', values.size, 256 << 20);
    const seconds = intFlag('seconds', values.seconds, 3, 1, 600);
    const dir = fs.mkdtempSync(path.join(values.dir ?? os.tmpdir(), 'splitblk-bench-'));
    const file = path.join(dir, 'disk.img');
    const aio = native.aio.create({ depthMax: 256, iovecsMax: 8192, engine: (values.engine ?? 'auto') as 'auto' });
    const tapdisk = new Tapdisk({ aio });
    const memory = new ArrayBuffer(32 << 20);
    const region = tapdisk.registerRegion(memory);
    const rows: Row[] = [];
    try {
      // Random contents, then read once so every workload runs from the page cache.
      const fd = fs.openSync(file, 'w');
      const chunk = Buffer.alloc(1 << 20);
      for (let at = 0; at < bytes; at += chunk.length) fs.writeSync(fd, chunk.fill(at & 0xff));
      fs.closeSync(fd);
      fs.readFileSync(file);
      const vbd = await tapdisk.open(`aio:${file}`);
      for (const w of workloads) {
        const r = await benchVbd(vbd, region, { ...w, seconds, clock: systemClock });
        rows.push({ workload: w.name, engine: `splitblk ${aio.engine}`, iops: r.iops, 'bytes-per-second': r.bytesPerSecond });
        for (const engine of ['io_uring', 'psync'] as const) {
          const f = await fio(file, w, engine, seconds);
          if (f) rows.push(f);
        }
      }
    } finally {
      await tapdisk.close();
      await aio.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
    const ratios = workloads.map((w) => {
      const ours = rows.find((r) => r.workload === w.name && r.engine.startsWith('splitblk'))!;
      const best = Math.max(0, ...rows.filter((r) => r.workload === w.name && r.engine.startsWith('fio')).map((r) => r.iops));
      return { workload: w.name, 'ratio-to-best-fio': best > 0 ? ours.iops / best : null };
    });
    if (format === 'json') {
      ctx.stdout.write(JSON.stringify({ results: rows, ratios }) + '\n');
    } else {
      printTable(ctx.stdout, ['workload', 'engine', 'iops', 'MiB/s'], rows.map((r) => ({
        workload: r.workload, engine: r.engine, iops: Math.round(r.iops), 'MiB/s': (r['bytes-per-second'] / (1 << 20)).toFixed(1),
      })));
      ctx.stdout.write('\n');
      printTable(ctx.stdout, ['workload', 'ratio'], ratios.map((r) => ({
        workload: r.workload, ratio: r['ratio-to-best-fio'] === null ? 'n/a (no fio)' : r['ratio-to-best-fio'].toFixed(2),
      })));
    }
    return 0;
  },
};
