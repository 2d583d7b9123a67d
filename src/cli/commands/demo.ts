import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, ftruncateSync, rmSync, existsSync, statSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseFlags, intFlag, sizeFlag, UsageError, EXIT_FAILURE, type Command, type CommandContext } from '../command.js';
import { xenstoredSocketPath, controlSocketPath } from '../rundir.js';
import { Supervisor } from '../../toolstack/supervisor.js';
import { openToolstack, socketAccepts } from '../../toolstack/connect.js';
import { createDomain, destroyDomain } from '../../toolstack/domain.js';
import { attachDisk, detachDisk } from '../../toolstack/vbd.js';
import { parseDiskSpec } from '../../toolstack/diskspec.js';
import { vbdBackendPath, vbdFrontendPath } from '../../toolstack/paths.js';
import { watchStates } from '../../toolstack/state-log.js';

const SIZE_DEFAULT = 256 * 1024 * 1024;
const DURATION_S_DEFAULT = 3;
const DURATION_S_MAX = 20;
const GUEST_DOMID = 1;
const VDEV = 'xvda';

export const command: Command = {
  summary: 'run the end-to-end demo (xenstored, backend and a guest as separate processes)',
  usage: `usage: splitblk demo [--image PATH] [--size SIZE] [--duration SECONDS] [--bs SIZE] [--iodepth N]

Starts xenstored, the backend (blkback + tapdisk) and a frontend acting as guest domain ${GUEST_DOMID}, each a
separate process; attaches a raw image (default: a sparse ${SIZE_DEFAULT / 2 ** 20} MiB file in a temporary
directory) as ${VDEV}; the guest sets up a one-page blkif ring (x86_64 layout) in its own memory, writes a pattern
through it and reads it back verified,
printing the XenbusState transitions, IOPS and MB/s; then detaches and tears everything down.
--image uses an existing file (its size wins over --size); --duration is the I/O time in seconds
(default ${DURATION_S_DEFAULT}, at most ${DURATION_S_MAX}).
Exit codes: 0 data verified; 1 a failure or a verification error; 2 usage.`,
  async run(argv, ctx) {
    const { values } = parseFlags(argv, {
      image: { type: 'string' }, size: { type: 'string' }, duration: { type: 'string' },
      bs: { type: 'string' }, iodepth: { type: 'string' },
    }, false);
    const size = sizeFlag('size', values.size, SIZE_DEFAULT);
    if (size < 1024 * 1024 || size % 512 !== 0) throw new UsageError('--size: at least 1 MiB, a multiple of 512 bytes');
    const duration = intFlag('duration', values.duration, DURATION_S_DEFAULT, 1, DURATION_S_MAX);
    const bs = sizeFlag('bs', values.bs, 4096);
    if (bs < 512 || bs % 512 !== 0 || bs > 1024 * 1024) throw new UsageError('--bs: a multiple of 512 bytes, at most 1 MiB');
    const iodepth = intFlag('iodepth', values.iodepth, 16, 1, 256);
    if (values.image !== undefined && !existsSync(values.image)) throw new UsageError(`--image: ${values.image} does not exist`);
    return runDemo(ctx, { image: values.image, size, duration, bs, iodepth });
  },
};

interface DemoOptions {
  image: string | undefined;
  size: number;
  duration: number;
  bs: number;
  iodepth: number;
}

async function runDemo(ctx: CommandContext, opts: DemoOptions): Promise<number> {
  const say = (line: string) => ctx.stdout.write(line + '\n');
  const rundir = mkdtempSync('/dev/shm/splitblk-demo-');
  const scratch = opts.image === undefined ? mkdtempSync(join(tmpdir(), 'splitblk-demo-')) : undefined;
  const image = opts.image ?? join(scratch!, 'disk.img');
  if (scratch !== undefined) {
    const fd = openSync(image, 'w');
    ftruncateSync(fd, opts.size);
    closeSync(fd);
  }
  say(`splitblk demo: run directory ${rundir}, image ${image} (${statSync(image).size} bytes)`);
  mkdirSync(join(rundir, 'xenstored'), { recursive: true });
  mkdirSync(join(rundir, 'tapdisk'), { recursive: true });
  const supervisor = new Supervisor({ log: ctx.stderr as never, restartsMax: 0, readyTimeoutMs: 15_000, stopTimeoutMs: 10_000, env: ctx.env });
  const xsSocket = xenstoredSocketPath(rundir);
  const ctlSocket = controlSocketPath(rundir);
  let code = EXIT_FAILURE;
  try {
    await supervisor.start([
      { name: 'xenstored', argv: [...ctx.selfArgv, 'xenstored', '--socket', xsSocket, '--exit-with-parent'], ready: () => socketAccepts(xsSocket) },
      {
        name: 'backend', argv: [...ctx.selfArgv, 'backend', '--rundir', rundir, '--xenstored-socket', xsSocket, '--control-socket', ctlSocket, '--exit-with-parent'],
        ready: () => socketAccepts(ctlSocket),
      },
    ]);
    const pids = supervisor.pids();
    say(`processes: xenstored pid ${pids['xenstored']}, backend pid ${pids['backend']}, demo (toolstack) pid ${process.pid}`);
    code = await withDomain(ctx, rundir, image, opts, say);
  } catch (error) {
    ctx.stderr.write(`splitblk demo: ${(error as Error).message}\n`);
  } finally {
    await supervisor.stop();
    rmSync(rundir, { recursive: true, force: true });
    if (scratch !== undefined) rmSync(scratch, { recursive: true, force: true });
  }
  say(code === 0 ? 'demo: all processes stopped, run directory and temporary files removed' : 'demo: FAILED');
  return code;
}

async function withDomain(ctx: CommandContext, rundir: string, image: string, opts: DemoOptions, say: (s: string) => void): Promise<number> {
  const ts = await openToolstack(rundir);
  try {
    await createDomain(ts, { domid: GUEST_DOMID, name: 'demo-guest', memoryMiB: 64 });
    say(`toolstack: created domain ${GUEST_DOMID} and introduced it to xenstored`);
    const spec = parseDiskSpec(`format=raw, vdev=${VDEV}, access=rw, target=${image}`);
    if (!spec.ok) throw new Error(spec.error);
    const states = await watchStates(ts.xs, [
      ['backend ', `${vbdBackendPath(GUEST_DOMID, spec.value.devid)}/state`],
      ['frontend', `${vbdFrontendPath(GUEST_DOMID, spec.value.devid)}/state`],
    ], say);
    const devid = await attachDisk(ts.xs, GUEST_DOMID, spec.value);
    say(`toolstack: attached ${image} as ${VDEV} (device ${devid}) in libxl's layout`);
    const result = await runFrontend(ctx, rundir, opts);
    await detachDisk(ts.xs, GUEST_DOMID, VDEV);
    await states.close();
    say('toolstack: detached the disk');
    await destroyDomain(ts, GUEST_DOMID);
    say(`toolstack: destroyed domain ${GUEST_DOMID}`);
    return result;
  } finally {
    await ts.close();
  }
}

/** Run the guest's blkfront in its own process and summarise what it measured. */
async function runFrontend(ctx: CommandContext, rundir: string, opts: DemoOptions): Promise<number> {
  const args = [...ctx.selfArgv.slice(1), 'frontend', String(GUEST_DOMID), VDEV, '--rundir', rundir,
    '--rw', 'randrw', '--bs', String(opts.bs), '--iodepth', String(opts.iodepth), '--runtime', String(opts.duration),
    '--ring-order', '0', '--queues', '1', '--verify', '--output=json'];
  const child = spawn(ctx.selfArgv[0]!, args, { stdio: ['ignore', 'pipe', 'inherit'], env: ctx.env });
  let out = '';
  child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const status = await new Promise<number>((resolve) => child.once('exit', (c) => resolve(c ?? 1)));
  let report: FrontendReport;
  try {
    report = JSON.parse(out) as FrontendReport;
  } catch {
    ctx.stderr.write(`splitblk demo: the frontend (exit ${status}) printed no report\n`);
    return EXIT_FAILURE;
  }
  const say = (line: string) => ctx.stdout.write(line + '\n');
  say(`guest: pid ${child.pid}, negotiated ${JSON.stringify(report.features)}`);
  say(`guest: ${report.ios} I/Os in ${report.seconds.toFixed(2)} s: ${Math.round(report.iops)} IOPS, ${report['mb-per-s'].toFixed(1)} MB/s, ` +
    `latency p50 ${report.latency['p50-us']} µs p99 ${report.latency['p99-us']} µs`);
  const verified = report.verify?.ok === true;
  say(verified
    ? `guest: verified ${report.verify!['sectors-checked']} sectors read back: the pattern matches`
    : `guest: VERIFICATION FAILED: ${JSON.stringify(report.verify)}`);
  return status === 0 && verified ? 0 : EXIT_FAILURE;
}

interface FrontendReport {
  features: Record<string, unknown>;
  ios: number;
  seconds: number;
  iops: number;
  'mb-per-s': number;
  latency: { 'p50-us': number; 'p99-us': number; 'p999-us': number };
  verify?: { ok: boolean; 'sectors-checked': number; errors?: unknown[] };
}
