import { outputFlag, parseFlags, UsageError, type Command } from '../../command.js';
import { resolveRundir } from '../../rundir.js';
import { jobExit, jobFailure, locateJob, printJob, waitJob } from './common.js';

export const command: Command = {
  summary: 'cancel a storage job where that is safe (QMP job-cancel)',
  usage: `usage: splitblk job cancel ID [--wait] [--rundir DIR] [--output=json]

Asks job ID to stop at its next safe point. A coalesce stops during its bulk copy (before any
disk is paused; what was copied already changes nothing the guests see, a leaf coalesce leaves
the disk on its temporary leaf); past that point it finishes (status done). A snapshot cannot
be cancelled (SPLITBLK_ERR_JOB_NOT_CANCELLABLE), nor a finished job (SPLITBLK_ERR_JOB_STATE).
--wait waits for the job to end and reports how.
Exit codes: 0 cancel requested (without --wait) or the job ended anyway as done; 1 refused or
the job failed; 2 bad usage; 3 no such job; 4 no tapdisk reachable; 5 the job was cancelled.`,
  async run(argv, ctx) {
    const { values, positionals } = parseFlags(argv, {
      rundir: { type: 'string' }, output: { type: 'string' }, wait: { type: 'boolean' },
    });
    const format = outputFlag(values.output);
    if (positionals.length !== 1) throw new UsageError('expected one job ID');
    const rundir = resolveRundir(values.rundir, ctx.env);
    try {
      const { client, job } = await locateJob(rundir, positionals[0]!);
      try {
        const asked = await client.jobCancel(job.id);
        const end = values.wait ? await waitJob(ctx, client, asked, false) : asked;
        printJob(ctx, end, format === 'json');
        return values.wait ? jobExit(end) : 0;
      } finally {
        client.end();
      }
    } catch (error) {
      return jobFailure(ctx, 'job cancel', error);
    }
  },
};
