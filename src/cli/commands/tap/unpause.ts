import { parseFlags, type Command } from '../../command.js';
import { runOnVbd, selectorFlags, vbdJson } from './common.js';

export const command: Command = {
  summary: 'unpause a VBD, optionally onto another image',
  usage: `usage: splitblk tap unpause (--minor N | --device DOMID/VDEV) [-a TYPE:/PATH] [--rundir DIR] [--output=json]

Reopens the paused VBD's image - or, with -a, another one (a new leaf after a snapshot, the
parent after a coalesce) - and resumes its I/O. An image of another size or sector size is
refused (SPLITBLK_ERR_SIZE_CHANGED) and the VBD stays paused.
Exit codes: 0 resumed, 1 failed (the VBD stays paused), 2 bad usage, 3 no such VBD.`,
  async run(argv, ctx) {
    const { values } = parseFlags(argv, { ...selectorFlags, args: { type: 'string', short: 'a' } }, false);
    return runOnVbd(ctx, 'unpause', values, async (client, vbd) => vbdJson(await client.unpause(vbd.minor, values.args)),
      (result) => `${result['state']} on ${(result['chain'] as string[]).join(' <- ')}`);
  },
};
