import * as path from 'node:path';
import { outputFlag, parseFlags, UsageError, type Command } from '../../command.js';
import { resolveRundir } from '../../rundir.js';
import { jobFailure, reportJob } from '../job/common.js';
import { locate, parseSelector, selectorFlags } from './common.js';

export const command: Command = {
  summary: 'live snapshot of an attached VHD: new empty leaf, pause, unpause onto it (a job)',
  usage: `usage: splitblk tap snapshot (--minor N | --device DOMID/VDEV) NEWLEAF [--wait] [-p] [--rundir DIR] [--output=json]

Starts a job in the tapdisk serving the VBD: pause it, create NEWLEAF as an empty differencing
VHD on its current leaf (which becomes read-only history), unpause onto NEWLEAF. Prints the job
(see splitblk job status); --wait waits for it and reports the guest-visible pause (pause-ms);
-p draws a progress bar on stderr meanwhile. The VBD must serve a vhd: image.
Exit codes: 0 started (without --wait) or done; 1 failed; 2 bad usage; 3 no such VBD;
4 no tapdisk reachable.`,
  async run(argv, ctx) {
    const { values, positionals } = parseFlags(argv, {
      ...selectorFlags, wait: { type: 'boolean' }, p: { type: 'boolean', short: 'p' },
    });
    const format = outputFlag(values.output);
    const selector = parseSelector(values);
    if (positionals.length !== 1) throw new UsageError('expected NEWLEAF, the path of the new leaf');
    const newLeaf = path.resolve(positionals[0]!);
    const rundir = resolveRundir(values.rundir, ctx.env);
    try {
      const { client, vbd } = await locate(rundir, selector);
      try {
        const started = await client.snapshot(vbd.minor, newLeaf);
        return await reportJob(ctx, client, started, { wait: values.wait === true, bar: values.p === true, json: format === 'json' });
      } finally {
        client.end();
      }
    } catch (error) {
      return jobFailure(ctx, 'tap snapshot', error);
    }
  },
};
