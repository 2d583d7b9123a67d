/**
 * Long storage operations as jobs (QMP style): an id, a status, current/total progress, and a
 * result or an error. The control plane starts, lists, reports and cancels them; the work runs
 * in the process that serves the disks.
 */
import { SplitblkError } from '../../../../util/errors.js';

/** No job with that id in this process. */
export const ERR_NO_JOB = 'SPLITBLK_ERR_NO_JOB';
/** The job has finished: nothing to cancel. */
export const ERR_JOB_STATE = 'SPLITBLK_ERR_JOB_STATE';
/** The job has no point where stopping leaves the disks consistent (a snapshot). */
export const ERR_JOB_NOT_CANCELLABLE = 'SPLITBLK_ERR_JOB_NOT_CANCELLABLE';
/** What a cancelled job ends with. */
export const ERR_JOB_CANCELLED = 'SPLITBLK_ERR_JOB_CANCELLED';

/** What an operation reports its progress to (a VhdJob, or anything else). */
export interface ProgressSink {
  progress(current: number, total: number): void;
  /**
   * Called by the operation only where stopping leaves every image and disk consistent (during
   * a coalesce's bulk copy, before any disk is paused); throws ERR_JOB_CANCELLED when a cancel
   * was asked for.
   */
  cancelPoint?(): void;
}

export type JobStatus = 'running' | 'done' | 'failed' | 'cancelled';

export interface JobReport<R = unknown> {
  id: string;
  kind: string;
  status: JobStatus;
  current: number;
  total: number;
  error?: { code: string; message: string };
  result?: R;
}

export interface JobOptions {
  /** Whether cancel() may be asked for (the work must call cancelPoint()). */
  cancellable?: boolean;
}

export class VhdJob<R = unknown> implements ProgressSink {
  status: JobStatus = 'running';
  current = 0;
  total = 0;
  result: R | undefined;
  error: Error | undefined;
  readonly cancellable: boolean;
  private cancelAsked = false;
  readonly done: Promise<R>;

  constructor(
    readonly id: string,
    readonly kind: string,
    work: (job: ProgressSink) => Promise<R>,
    opts: JobOptions = {},
  ) {
    this.cancellable = opts.cancellable ?? false;
    this.done = Promise.resolve()
      .then(() => work(this))
      .then(
        (r) => {
          this.result = r;
          this.status = 'done';
          return r;
        },
        (e: Error) => {
          this.error = e;
          this.status = e instanceof SplitblkError && e.code === ERR_JOB_CANCELLED ? 'cancelled' : 'failed';
          throw e;
        },
      );
    // The caller may only poll the job; a failure is reported there, never as an unhandled
    // rejection.
    this.done.catch(() => undefined);
  }

  progress(current: number, total: number): void {
    this.current = current;
    this.total = total;
  }

  cancelPoint(): void {
    if (this.cancelAsked) throw new SplitblkError(ERR_JOB_CANCELLED, `job ${this.id} (${this.kind}) was cancelled`, { job: this.id });
  }

  /**
   * Ask the job to stop at its next safe point. A job that passed its last safe point finishes
   * normally (its status then says done).
   */
  cancel(): void {
    if (this.status !== 'running') throw new SplitblkError(ERR_JOB_STATE, `job ${this.id} is ${this.status}`, { job: this.id });
    if (!this.cancellable) throw new SplitblkError(ERR_JOB_NOT_CANCELLABLE, `job ${this.id} (${this.kind}) cannot be cancelled safely`, { job: this.id });
    this.cancelAsked = true;
  }

  report(): JobReport<R> {
    const r: JobReport<R> = { id: this.id, kind: this.kind, status: this.status, current: this.current, total: this.total };
    if (this.error) r.error = { code: this.error instanceof SplitblkError ? this.error.code : 'SPLITBLK_ERR_JOB', message: this.error.message };
    if (this.status === 'done') r.result = this.result;
    return r;
  }
}

/**
 * The jobs of one process; finished jobs beyond `finishedMax` are forgotten, oldest first.
 * Ids are `PREFIX-N`: with the process id as prefix they are unique across the processes of a
 * run directory, so a client can look a job up by id alone.
 */
export class JobTable {
  private nextId = 1;
  private readonly jobs = new Map<string, VhdJob<unknown>>();

  constructor(private readonly finishedMax = 64, private readonly prefix = String(process.pid)) {}

  start<R>(kind: string, work: (job: ProgressSink) => Promise<R>, opts: JobOptions = {}): VhdJob<R> {
    const job = new VhdJob<R>(`${this.prefix}-${this.nextId++}`, kind, work, opts);
    this.jobs.set(job.id, job as VhdJob<unknown>);
    this.trim();
    return job;
  }

  get(id: string): VhdJob<unknown> | undefined {
    return this.jobs.get(id);
  }

  /** The job, or ERR_NO_JOB. */
  require(id: string): VhdJob<unknown> {
    const job = this.jobs.get(id);
    if (job === undefined) throw new SplitblkError(ERR_NO_JOB, `no job ${id}`, { job: id });
    return job;
  }

  list(): JobReport[] {
    return [...this.jobs.values()].map((j) => j.report());
  }

  private trim(): void {
    const finished = [...this.jobs.values()].filter((j) => j.status !== 'running');
    for (const j of finished.slice(0, Math.max(0, finished.length - this.finishedMax))) this.jobs.delete(j.id);
  }
}
