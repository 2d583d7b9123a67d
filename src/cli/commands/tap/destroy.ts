import { parseFlags, type Command } from '../../command.js';
import { runOnVbd, selectorFlags, vbdJson } from './common.js';

export const command: Command = {
  summary: 'close a VBD and free its minor',
  usage: `usage: splitblk tap destroy (--minor N | --device DOMID/VDEV) [--rundir DIR] [--output=json]

Finishes the VBD's queued requests, closes its image and frees its minor.
Exit codes: 0 destroyed, 1 failed, 2 bad usage, 3 no such VBD.`,
  async run(argv, ctx) {
    const { values } = parseFlags(argv, selectorFlags, false);
    return runOnVbd(ctx, 'destroy', values, async (client, vbd) => {
      await client.destroy(vbd.minor);
      return { ...vbdJson(vbd), state: 'destroyed' };
    });
  },
};
