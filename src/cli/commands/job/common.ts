import { type CommandContext } from '../../command.js';
import { SplitblkError } from '../../../util/errors.js';
import type { JobDescription, TapdiskClient } from '../../../tapdisk/control/client.js';
import { ERR_NO_JOB } from '../../../tapdisk/drivers/vhd/live/job.js';
import { ERR_NO_TAPDISK, ERR_NO_VBD } from '../../../tapdisk/errors.js';
import { EXIT_NO_TAPDISK, reachableTapdisks } from '../tap/common.js';
import { kebab, progressBar } from '../image/output.js';

/**
 * What the job verbs (and the tap verbs that start jobs) share: finding a job by id among the
 * tapdisks of a run directory, waiting for it with an optional progress bar, its JSON and
 * text, and the exit codes:
 *   0 done (or started, without --wait); 1 the job or the request failed; 2 bad usage;
 *   3 no such job or VBD; 4 no tapdisk reachable; 5 the job was cancelled.
 */
export const EXIT_NO_JOB = 3;
export const EXIT_CANCELLED = 5;

/** How often a waiting client asks for the job's status. */
export const pollMs = 50;

/** Find the tapdisk that runs job `id`; the caller ends the client. */
export async function locateJob(rundir: string, id: string): Promise<{ client: TapdiskClient; job: JobDescription }> {
  let reached = false;
  for await (const client of reachableTapdisks(rundir)) {
    reached = true;
    try {
      return { client, job: await client.jobStatus(id) };
    } catch (error) {
      client.end();
      if (!(error instanceof SplitblkError) || error.code !== ERR_NO_JOB) throw error;
    }
  }
  if (!reached) throw new SplitblkError(ERR_NO_TAPDISK, `no tapdisk reachable under ${rundir}`, { path: rundir });
  throw new SplitblkError(ERR_NO_JOB, `no job ${id} under ${rundir}`, { job: id });
}

/** Poll the job until it ends, drawing a progress bar on stderr when asked. */
export async function waitJob(ctx: CommandContext, client: TapdiskClient, first: JobDescription, bar: boolean): Promise<JobDescription> {
  const p = bar ? progressBar(ctx.stderr, `${first.kind} ${first.id}`) : undefined;
  let job = first;
  for (;;) {
    if (job.total > 0) p?.update(job.current, job.total);
    if (job.status !== 'running') break;
    await new Promise((r) => setTimeout(r, pollMs));
    job = await client.jobStatus(job.id);
  }
  if (job.status === 'done') p?.update(1, 1);
  p?.done();
  return job;
}

/** kebab-case keys, raw numbers; pauses in milliseconds. */
export function jobJson(j: JobDescription): Record<string, unknown> {
  return kebab({ id: j.id, kind: j.kind, status: j.status, current: j.current, total: j.total, error: j.error, result: j.result }) as Record<string, unknown>;
}

/** One line for people. */
export function jobLine(j: JobDescription): string {
  const parts = [`job ${j.id} ${j.kind}: ${j.status}`];
  if (j.status === 'running' && j.total > 0) parts.push(`${j.current}/${j.total}`);
  const r = j.result;
  if (r?.pauseMs !== undefined) parts.push(`pause ${r.pauseMs.toFixed(1)} ms${r.snapshotPauseMs !== undefined ? ` (+ ${r.snapshotPauseMs.toFixed(1)} ms snapshot)` : ''}`);
  if (r?.leaf) parts.push(`leaf ${r.leaf}`);
  if (r?.node) parts.push(`${r.node} merged into ${r.parent}`);
  if (r?.refreshed?.length) parts.push(`refreshed minors ${r.refreshed.join(',')}`);
  if (r?.removable?.length) parts.push(`removable ${r.removable.join(' ')}`);
  if (j.error) parts.push(`${j.error.message} (${j.error.code})`);
  return parts.join('; ');
}

/** The exit code a finished (or, without waiting, a started) job stands for. */
export function jobExit(j: JobDescription): number {
  if (j.status === 'failed') return 1;
  if (j.status === 'cancelled') return EXIT_CANCELLED;
  return 0;
}

/** Print the job as asked: JSON, or a line. */
export function printJob(ctx: CommandContext, j: JobDescription, json: boolean): void {
  ctx.stdout.write(json ? JSON.stringify(jobJson(j)) + '\n' : jobLine(j) + '\n');
}

/**
 * A started (or asked-about) job, reported as the job verbs do: with `--wait`, poll it to its
 * end (`-p` draws a bar); then print it and return the exit code it stands for.
 */
export async function reportJob(
  ctx: CommandContext,
  client: TapdiskClient,
  job: JobDescription,
  opts: { wait: boolean; bar: boolean; json: boolean },
): Promise<number> {
  const end = opts.wait ? await waitJob(ctx, client, job, opts.bar) : job;
  printJob(ctx, end, opts.json);
  return jobExit(end);
}

/** Print an operating error with its code and map it to an exit code. */
export function jobFailure(ctx: CommandContext, verb: string, error: unknown): number {
  if (!(error instanceof SplitblkError)) throw error;
  ctx.stderr.write(`splitblk ${verb}: ${error.message} (${error.code})\n`);
  if (error.code === ERR_NO_JOB || error.code === ERR_NO_VBD) return EXIT_NO_JOB;
  if (error.code === ERR_NO_TAPDISK) return EXIT_NO_TAPDISK;
  return 1;
}

