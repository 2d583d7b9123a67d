import { outputFlag, parseFlags, type Command } from '../../command.js';
import { resolveRundir } from '../../rundir.js';
import { printTable } from '../../table.js';
import type { JobDescription } from '../../../tapdisk/control/client.js';
import { eachTapdisk } from '../tap/common.js';
import { jobFailure, jobJson } from './common.js';

export const command: Command = {
  summary: 'list the storage jobs of every tapdisk (QMP query-jobs)',
  usage: `usage: splitblk job list [--rundir DIR] [--output=json]

Every running job and the last finished ones, of every tapdisk of the run directory. JSON: an
array of {id, kind, status, current, total, error: {code, message} | null, result: {pause-ms,
snapshot-pause-ms, snapshot, leaf, node, parent, removable, refreshed} | null}.
Exit codes: 0 listed; 1 failed; 2 bad usage.`,
  async run(argv, ctx) {
    const { values } = parseFlags(argv, { rundir: { type: 'string' }, output: { type: 'string' } }, false);
    const format = outputFlag(values.output);
    const rundir = resolveRundir(values.rundir, ctx.env);
    let jobs: JobDescription[];
    try {
      jobs = (await eachTapdisk(rundir, (c) => c.jobs())).flat();
    } catch (error) {
      return jobFailure(ctx, 'job list', error);
    }
    if (format === 'json') {
      ctx.stdout.write(JSON.stringify(jobs.map(jobJson)) + '\n');
      return 0;
    }
    printTable(ctx.stdout, ['id', 'kind', 'status', 'progress', 'pause-ms', 'error'], jobs.map((j) => ({
      id: j.id, kind: j.kind, status: j.status, progress: j.total > 0 ? `${j.current}/${j.total}` : '-',
      'pause-ms': j.result?.pauseMs?.toFixed(1) ?? '-', error: j.error?.code ?? '',
    })));
    return 0;
  },
};
