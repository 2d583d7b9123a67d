import { EXIT_FAILURE, intFlag, outputFlag, parseFlags, sizeFlag, UsageError, type Command, type CommandContext } from '../command.js';
import { resolveRundir } from '../rundir.js';
import { openHypervisor } from '../../hypervisor/hypervisor.js';
import { BLKIF_X86_32, BLKIF_X86_64 } from '../../blkback/protocol/codec.js';
import { Blkfront, type CloseReport } from '../../blkfront/blkfront.js';
import { openGuest } from '../../blkfront/guest.js';
import { frontendReport, type FrontendReport } from '../../blkfront/report.js';
import { RW_MODES, runWorkload, type RwMode, type WorkloadResult } from '../../blkfront/workload.js';
import { vdevToDevid } from '../../toolstack/vdev.js';

/** Exit code when verification found lost, stale, misplaced or corrupt sectors. */
const EXIT_VERIFY = 3;

export const command: Command = {
  summary: 'run a blkfront as a guest domain: negotiate with the backend and run an fio-like workload',
  usage: `usage: splitblk frontend DOMID VDEV [--rundir DIR] [--rw MODE] [--bs SIZE] [--iodepth N]
                         [--runtime SECONDS | --size SIZE] [--verify] [--rwmixread PCT] [--seed N]
                         [--ring-order N] [--queues N] [--indirect-segments N] [--no-persistent]
                         [--protocol x86_64|x86_32] [--timeout SECONDS] [--output=json]

Acts as domain DOMID (its memory, grant table, event channels and xenstore ring) and connects to
the backend of VDEV (xvda, 51712, ...). Negotiates every feature the backend offers, or less:
--ring-order (0..4), --queues, --indirect-segments (0 turns them off), --no-persistent.
Workload: --rw read|write|randread|randwrite|randrw (default read), --bs (default 4k),
--iodepth (default 1), then either --runtime seconds or --size bytes (default: one pass over
the disk). --verify stamps every 512-byte sector with its sector number, a generation and a
checksum, checks every read, and reads back everything written at the end.
JSON: {"features", "disk", "rw", "bs", "iodepth", "seed", "ios", "reads", "writes", "bytes-read",
"bytes-written", "seconds", "iops", "mb-per-s", "latency": {"p50-us", "p99-us", "p999-us",
"mean-us", "max-us"}, "errors", "first-error", "verify": {"ok", "sectors-checked", "error-count",
"errors"} | null, "ring", "close"}.
Exit codes: 0 done (and verified); 1 failed (connect, I/O error); 2 usage; 3 verification failed.`,
  async run(argv, ctx) {
    const { rundir, vdev, opts, workload, format } = parseOptions(argv, ctx);
    // Ctrl-C or SIGTERM ends the workload early and the device is still closed cleanly. The
    // handlers go in before connecting: the frontend shows Connected in xenstore before
    // Blkfront.connect() returns, and a signal in that window must not kill the process.
    const abort = new AbortController();
    const onSignal = () => abort.abort();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    const hypervisor = openHypervisor(rundir);
    try {
      const guest = await openGuest(hypervisor, opts.domid);
      try {
        const front = await Blkfront.connect(guest, opts);
        let result: WorkloadResult;
        let close: CloseReport | undefined;
        try {
          result = await runWorkload(front.io, { ...workload, signal: abort.signal });
        } finally {
          close = await front.close();
        }
        const report = frontendReport(front, result, close);
        if (format === 'json') ctx.stdout.write(JSON.stringify(report) + '\n');
        else printHuman(ctx, vdev, report);
        if (result.errors > 0) return EXIT_FAILURE;
        if (result.verify !== undefined && !result.verify.ok) return EXIT_VERIFY;
        return 0;
      } finally {
        await guest.close();
      }
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      hypervisor.close();
    }
  },
};

/** The flags as typed options for Blkfront.connect and runWorkload (UsageError on bad input). */
function parseOptions(argv: string[], ctx: CommandContext) {
  const { values, positionals } = parseFlags(argv, {
    rundir: { type: 'string' },
    rw: { type: 'string' },
    bs: { type: 'string' },
    iodepth: { type: 'string' },
    runtime: { type: 'string' },
    size: { type: 'string' },
    verify: { type: 'boolean' },
    rwmixread: { type: 'string' },
    seed: { type: 'string' },
    'ring-order': { type: 'string' },
    queues: { type: 'string' },
    'indirect-segments': { type: 'string' },
    'no-persistent': { type: 'boolean' },
    protocol: { type: 'string' },
    timeout: { type: 'string' },
    output: { type: 'string' },
  });
  if (positionals.length !== 2) throw new UsageError('expected DOMID and VDEV');
  const domid = intFlag('domid', positionals[0], 0, 1, 0x7fef);
  const devid = vdevToDevid(positionals[1]!);
  if (devid === undefined) throw new UsageError(`VDEV: not a virtual device name or number: ${JSON.stringify(positionals[1])}`);
  const rw = (values.rw ?? 'read') as RwMode;
  if (!RW_MODES.includes(rw)) throw new UsageError(`--rw: expected one of ${RW_MODES.join(', ')}`);
  const bs = sizeFlag('bs', values.bs, 4096);
  if (bs < 512 || bs % 512 !== 0) throw new UsageError(`--bs: ${bs} is not a positive multiple of 512`);
  const iodepth = intFlag('iodepth', values.iodepth, 1, 1, 4096);
  if (values.runtime !== undefined && values.size !== undefined) throw new UsageError('give --runtime or --size, not both');
  const runtimeMs = values.runtime === undefined ? undefined : secondsFlag('runtime', values.runtime) * 1000;
  const sizeBytes = values.size === undefined ? undefined : sizeFlag('size', values.size, 0);
  const protocol = values.protocol ?? 'x86_64';
  if (protocol !== 'x86_64' && protocol !== 'x86_32') throw new UsageError('--protocol: expected x86_64 or x86_32');
  const format = outputFlag(values.output);
  const opts = {
    domid,
    devid,
    iodepth,
    maxIoBytes: bs,
    codec: protocol === 'x86_32' ? BLKIF_X86_32 : BLKIF_X86_64,
    ringOrder: values['ring-order'] === undefined ? undefined : intFlag('ring-order', values['ring-order'], 0, 0, 4),
    queues: values.queues === undefined ? undefined : intFlag('queues', values.queues, 1, 1, 16),
    indirectSegments: values['indirect-segments'] === undefined ? undefined : intFlag('indirect-segments', values['indirect-segments'], 0, 0, 4096),
    persistent: values['no-persistent'] !== true,
    timeoutMs: intFlag('timeout', values.timeout, 10, 1, 3600) * 1000,
  };
  const workload = {
    rw,
    bs,
    iodepth,
    runtimeMs,
    sizeBytes,
    verify: values.verify === true,
    rwmixread: intFlag('rwmixread', values.rwmixread, 50, 0, 100),
    seed: values.seed === undefined ? undefined : intFlag('seed', values.seed, 0, 0, 0xffffffff),
  };
  return { rundir: resolveRundir(values.rundir, ctx.env), vdev: positionals[1]!, opts, workload, format };
}

function secondsFlag(name: string, value: string): number {
  if (!/^\d+(\.\d+)?$/.test(value) || Number(value) <= 0) throw new UsageError(`--${name}: not a positive number of seconds: ${JSON.stringify(value)}`);
  return Number(value);
}

function printHuman(ctx: CommandContext, vdev: string, r: FrontendReport): void {
  const f = r.features;
  const lat = r.latency;
  const lines = [
    `${vdev}: ${f.protocol}, ring order ${f['ring-page-order']} (${f['ring-slots']} slots) x ${f.queues} queue(s), ` +
      `indirect ${f['indirect-segments'] > 0 ? `${f['indirect-segments']} segments` : 'off'}, persistent grants ${f.persistent ? 'on' : 'off'}, ` +
      `flush ${f.flush}, discard ${f.discard ? 'on' : 'off'}`,
    `${r.rw} bs=${r.bs} iodepth=${r.iodepth} seed=${r.seed}: ${r.ios} I/Os in ${r.seconds.toFixed(2)} s: ` +
      `${Math.round(r.iops)} IOPS, ${r['mb-per-s'].toFixed(1)} MB/s (${r.reads} reads, ${r.writes} writes)`,
    `latency (us): p50 ${lat['p50-us']}  p99 ${lat['p99-us']}  p99.9 ${lat['p999-us']}  mean ${lat['mean-us']}  max ${lat['max-us']}`,
  ];
  if (r.errors > 0) lines.push(`errors: ${r.errors} (first: ${r['first-error']})`);
  const v = r.verify;
  if (v !== null) {
    lines.push(v.ok ? `verify: ok, ${v['sectors-checked']} sectors checked` : `verify: FAILED, ${v['error-count']} bad sectors; first: ${JSON.stringify(v.errors.slice(0, 4))}`);
  }
  ctx.stdout.write(lines.join('\n') + '\n');
}
