/**
 * Long storage operations as jobs (QMP style): an id, a status, current/total progress, and a
 * result or an error. The control plane lists and reports them; the work runs in the process
 * that serves the disks.
 */
import { SplitblkError } from '../../../../util/errors.js';

/** What an operation reports its progress to (a VhdJob, or anything else). */
export interface ProgressSink {
  progress(current: number, total: number): void;
}

export type JobStatus = 'running' | 'completed' | 'failed';

export interface JobReport {
  id: number;
  kind: string;
  status: JobStatus;
  current: number;
  total: number;
  error?: { code: string; message: string };
  result?: unknown;
}

export class VhdJob<R = unknown> implements ProgressSink {
  status: JobStatus = 'running';
  current = 0;
  total = 0;
  result: R | undefined;
  error: Error | undefined;
  readonly done: Promise<R>;

  constructor(
    readonly id: number,
    readonly kind: string,
    work: (job: ProgressSink) => Promise<R>,
  ) {
    this.done = Promise.resolve()
      .then(() => work(this))
      .then(
        (r) => {
          this.result = r;
          this.status = 'completed';
          return r;
        },
        (e: Error) => {
          this.error = e;
          this.status = 'failed';
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

  report(): JobReport {
    const r: JobReport = { id: this.id, kind: this.kind, status: this.status, current: this.current, total: this.total };
    if (this.error) r.error = { code: this.error instanceof SplitblkError ? this.error.code : 'SPLITBLK_ERR_JOB', message: this.error.message };
    if (this.status === 'completed') r.result = this.result;
    return r;
  }
}

/** The jobs of one process; finished jobs beyond `finishedMax` are forgotten, oldest first. */
export class JobTable {
  private nextId = 1;
  private readonly jobs = new Map<number, VhdJob<unknown>>();

  constructor(private readonly finishedMax = 64) {}

  start<R>(kind: string, work: (job: ProgressSink) => Promise<R>): VhdJob<R> {
    const job = new VhdJob<R>(this.nextId++, kind, work);
    this.jobs.set(job.id, job as VhdJob<unknown>);
    this.trim();
    return job;
  }

  get(id: number): VhdJob<unknown> | undefined {
    return this.jobs.get(id);
  }

  list(): JobReport[] {
    return [...this.jobs.values()].map((j) => j.report());
  }

  private trim(): void {
    const finished = [...this.jobs.values()].filter((j) => j.status !== 'running');
    for (const j of finished.slice(0, Math.max(0, finished.length - this.finishedMax))) this.jobs.delete(j.id);
  }
}
