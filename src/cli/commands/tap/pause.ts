import { parseFlags, type Command } from '../../command.js';
import { runOnVbd, selectorFlags, vbdJson } from './common.js';

export const command: Command = {
  summary: 'pause a VBD: drain its I/O and close its image',
  usage: `usage: splitblk tap pause (--minor N | --device DOMID/VDEV) [--rundir DIR] [--output=json]

The VBD stops taking requests, finishes those in flight and closes its image (so it can be
snapshotted or coalesced); requests that arrive meanwhile wait for unpause.
Exit codes: 0 paused, 1 failed, 2 bad usage, 3 no such VBD.`,
  async run(argv, ctx) {
    const { values } = parseFlags(argv, selectorFlags, false);
    return runOnVbd(ctx, 'pause', values, async (client, vbd) => vbdJson(await client.pause(vbd.minor)));
  },
};
