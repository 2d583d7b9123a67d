import { outputFlag, parseFlags, type Command } from '../../command.js';
import { resolveRundir } from '../../rundir.js';
import { failure, locate, parseSelector, selectorFlags, vbdJson } from './common.js';

export const command: Command = {
  summary: 'unpause a VBD, optionally onto another image',
  usage: `usage: splitblk tap unpause (--minor N | --device DOMID/VDEV) [-a TYPE:/PATH] [--rundir DIR] [--output=json]

Reopens the paused VBD's image - or, with -a, another one (a new leaf after a snapshot, the
parent after a coalesce) - and resumes its I/O. An image of another size or sector size is
refused (SPLITBLK_ERR_SIZE_CHANGED) and the VBD stays paused.
Exit codes: 0 resumed, 1 failed (the VBD stays paused), 2 bad usage, 3 no such VBD.`,
  async run(argv, ctx) {
    const { values } = parseFlags(argv, { ...selectorFlags, args: { type: 'string', short: 'a' } }, false);
    const format = outputFlag(values.output);
    const selector = parseSelector(values);
    const rundir = resolveRundir(values.rundir, ctx.env);
    try {
      const { client, vbd } = await locate(rundir, selector);
      try {
        const result = vbdJson(await client.unpause(vbd.minor, values.args));
        if (format === 'json') ctx.stdout.write(JSON.stringify(result) + '\n');
        else ctx.stdout.write(`minor ${vbd.minor}: ${result['state']} on ${(result['chain'] as string[]).join(' <- ')}\n`);
        return 0;
      } finally {
        client.end();
      }
    } catch (error) {
      return failure(ctx, 'unpause', error);
    }
  },
};
