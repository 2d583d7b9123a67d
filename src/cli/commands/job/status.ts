import { outputFlag, parseFlags, UsageError, type Command } from '../../command.js';
import { resolveRundir } from '../../rundir.js';
import { jobFailure, locateJob, reportJob } from './common.js';

export const command: Command = {
  summary: 'show one storage job; --wait for it to end',
  usage: `usage: splitblk job status ID [--wait] [-p] [--rundir DIR] [--output=json]

Reports job ID (as job list shows it): status running|done|failed|cancelled, current/total
progress, the error or the result (pause-ms: how long the guest saw no progress). --wait polls
until the job ends; -p draws a progress bar on stderr meanwhile.
Exit codes: 0 the job is running (without --wait) or done; 1 it failed (or the request did);
2 bad usage; 3 no such job; 4 no tapdisk reachable; 5 it was cancelled.`,
  async run(argv, ctx) {
    const { values, positionals } = parseFlags(argv, {
      rundir: { type: 'string' }, output: { type: 'string' }, wait: { type: 'boolean' }, p: { type: 'boolean', short: 'p' },
    });
    const format = outputFlag(values.output);
    if (positionals.length !== 1) throw new UsageError('expected one job ID');
    const rundir = resolveRundir(values.rundir, ctx.env);
    try {
      const { client, job: first } = await locateJob(rundir, positionals[0]!);
      try {
        return await reportJob(ctx, client, first, { wait: values.wait === true, bar: values.p === true, json: format === 'json' });
      } finally {
        client.end();
      }
    } catch (error) {
      return jobFailure(ctx, 'job status', error);
    }
  },
};
