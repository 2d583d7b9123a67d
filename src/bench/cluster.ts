/**
 * A throw-away splitblk installation for benchmarks and end-to-end tests: a run directory under
 * /dev/shm, xenstored and the backend as separate supervised processes (exactly what `splitblk
 * up` starts), a toolstack connection, and helpers to create a guest and attach a disk to it.
 * `close()` detaches nothing in particular: it stops both processes and removes the run
 * directory, whatever state the devices are in.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { Writable } from 'node:stream';
import { controlSocketPath, xenstoredSocketPath } from '../cli/rundir.js';
import { openToolstack, socketAccepts } from '../toolstack/connect.js';
import { createDomain, destroyDomain } from '../toolstack/domain.js';
import { parseDiskSpec } from '../toolstack/diskspec.js';
import { Supervisor } from '../toolstack/supervisor.js';
import { attachDisk, detachDisk } from '../toolstack/vbd.js';
import { attachNullDisk } from './null-disk.js';

const READY_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 10_000;
/** Lines of the services' output kept for error messages. */
const LOG_LINES_MAX = 200;

export interface ClusterOptions {
  /** How to run splitblk itself: [node, bin/splitblk.js]. */
  selfArgv: string[];
  env: NodeJS.ProcessEnv;
  /** Extra flags for `splitblk backend` (e.g. --max-ring-order 3). */
  backendArgs?: string[];
  /** Prefix of the run directory's name under /dev/shm. */
  name?: string;
  /** Extra node flags for the backend process only (e.g. --cpu-prof when profiling it). */
  backendNodeArgs?: string[];
}

export type Toolstack = Awaited<ReturnType<typeof openToolstack>>;

export class Cluster {
  private constructor(
    readonly rundir: string,
    private readonly supervisor: Supervisor,
    readonly toolstack: Toolstack,
    private readonly lines: string[],
  ) {}

  /** Start xenstored and the backend; on failure everything started so far is stopped. */
  static async start(opts: ClusterOptions): Promise<Cluster> {
    const rundir = mkdtempSync(`/dev/shm/${opts.name ?? 'splitblk-bench'}-`);
    mkdirSync(`${rundir}/xenstored`, { recursive: true });
    mkdirSync(`${rundir}/tapdisk`, { recursive: true });
    const lines: string[] = [];
    const log = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const line of chunk.toString().split('\n')) if (line !== '') lines.push(line);
        if (lines.length > LOG_LINES_MAX) lines.splice(0, lines.length - LOG_LINES_MAX);
        done();
      },
    });
    const supervisor = new Supervisor({ log, restartsMax: 0, readyTimeoutMs: READY_TIMEOUT_MS, stopTimeoutMs: STOP_TIMEOUT_MS, env: opts.env });
    const xs = xenstoredSocketPath(rundir);
    const ctl = controlSocketPath(rundir);
    const [node, ...self] = opts.selfArgv;
    const backendArgv = [node!, ...(opts.backendNodeArgs ?? []), ...self];
    try {
      await supervisor.start([
        { name: 'xenstored', argv: [...opts.selfArgv, 'xenstored', '--socket', xs, '--exit-with-parent'], ready: () => socketAccepts(xs) },
        {
          name: 'backend',
          argv: [...backendArgv, 'backend', '--rundir', rundir, '--xenstored-socket', xs, '--control-socket', ctl, '--quiet', '--exit-with-parent', ...(opts.backendArgs ?? [])],
          ready: () => socketAccepts(ctl),
        },
      ]);
      return new Cluster(rundir, supervisor, await openToolstack(rundir), lines);
    } catch (error) {
      await supervisor.stop();
      rmSync(rundir, { recursive: true, force: true });
      throw new Error(`${(error as Error).message}\n${lines.join('\n')}`);
    }
  }

  /** The last lines xenstored and the backend printed. */
  log(): string {
    return this.lines.join('\n');
  }

  async createDomain(domid: number, memoryMiB: number): Promise<void> {
    await createDomain(this.toolstack, { domid, name: `bench-${domid}`, memoryMiB });
  }

  async destroyDomain(domid: number): Promise<void> {
    await destroyDomain(this.toolstack, domid);
  }

  /** Attach a file through the toolstack's DISKSPEC path (format raw or vhd); returns the devid. */
  async attachImage(domid: number, vdev: string, format: 'raw' | 'vhd', path: string): Promise<number> {
    const spec = parseDiskSpec(`format=${format}, vdev=${vdev}, access=rw, target=${path}`);
    if (!spec.ok) throw new Error(spec.error);
    return attachDisk(this.toolstack.xs, domid, spec.value);
  }

  /** Attach a `null:` disk of `bytes` (reads zeros, discards writes); returns the devid. */
  async attachNull(domid: number, vdev: string, bytes: number): Promise<number> {
    return attachNullDisk(this.toolstack.xs, domid, vdev, bytes);
  }

  async detach(domid: number, vdev: string): Promise<void> {
    await detachDisk(this.toolstack.xs, domid, vdev, { force: true });
  }

  /** Stop both processes and remove the run directory. Idempotent. */
  async close(): Promise<void> {
    await this.toolstack.close().catch(() => undefined);
    this.toolstack.hypervisor.close();
    await this.supervisor.stop();
    rmSync(this.rundir, { recursive: true, force: true });
  }
}
