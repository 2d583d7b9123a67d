import { outputFlag, parseFlags, type Command } from '../../command.js';
import { resolveRundir } from '../../rundir.js';
import { failure, locate, parseSelector, selectorFlags, vbdJson } from './common.js';

export const command: Command = {
  summary: 'close a VBD and free its minor',
  usage: `usage: splitblk tap destroy (--minor N | --device DOMID/VDEV) [--rundir DIR] [--output=json]

Finishes the VBD's queued requests, closes its image and frees its minor.
Exit codes: 0 destroyed, 1 failed, 2 bad usage, 3 no such VBD.`,
  async run(argv, ctx) {
    const { values } = parseFlags(argv, selectorFlags, false);
    const format = outputFlag(values.output);
    const selector = parseSelector(values);
    const rundir = resolveRundir(values.rundir, ctx.env);
    try {
      const { client, vbd } = await locate(rundir, selector);
      try {
        await client.destroy(vbd.minor);
        const result = { ...vbdJson(vbd), state: 'destroyed' };
        if (format === 'json') ctx.stdout.write(JSON.stringify(result) + '\n');
        else ctx.stdout.write(`minor ${vbd.minor}: ${result['state']}\n`);
        return 0;
      } finally {
        client.end();
      }
    } catch (error) {
      return failure(ctx, 'destroy', error);
    }
  },
};
