import { outputFlag, parseFlags, type Command } from '../../command.js';
import { resolveRundir } from '../../rundir.js';
import { failure, locate, parseSelector, selectorFlags, vbdJson } from './common.js';

export const command: Command = {
  summary: 'pause a VBD: drain its I/O and close its image',
  usage: `usage: splitblk tap pause (--minor N | --device DOMID/VDEV) [--rundir DIR] [--output=json]

The VBD stops taking requests, finishes those in flight and closes its image (so it can be
snapshotted or coalesced); requests that arrive meanwhile wait for unpause.
Exit codes: 0 paused, 1 failed, 2 bad usage, 3 no such VBD.`,
  async run(argv, ctx) {
    const { values } = parseFlags(argv, selectorFlags, false);
    const format = outputFlag(values.output);
    const selector = parseSelector(values);
    const rundir = resolveRundir(values.rundir, ctx.env);
    try {
      const { client, vbd } = await locate(rundir, selector);
      try {
        const result = vbdJson(await client.pause(vbd.minor));
        if (format === 'json') ctx.stdout.write(JSON.stringify(result) + '\n');
        else ctx.stdout.write(`minor ${vbd.minor}: ${result['state']}\n`);
        return 0;
      } finally {
        client.end();
      }
    } catch (error) {
      return failure(ctx, 'pause', error);
    }
  },
};
