import { parseFlags, UsageError, intFlag, type Command } from '../command.js';
import { resolveRundir } from '../rundir.js';
import { openToolstack } from '../../toolstack/connect.js';
import { detachDisk, DETACH_TIMEOUT_MS } from '../../toolstack/vbd.js';

export const command: Command = {
  summary: 'detach a disk from a domain',
  usage: `usage: splitblk detach DOMID VDEV [--force] [--rundir DIR]

As libxl: sets online=0 and Closing on the backend, waits up to ${DETACH_TIMEOUT_MS / 1000} s for Closed, then
removes the backend and frontend directories. The backend closes at once when the frontend holds
no ring, after the frontend's Closing/Closed handshake otherwise, and on its own deadline when
the frontend is dead or does not answer. --force removes the nodes even if the backend does not
close (after waiting at most 1 s). VDEV is a name (xvda) or a device id (51712). Prints nothing.
Exit codes: 0 detached; 1 no such device, services not running, or not closed in time; 2 usage.`,
  async run(argv, ctx) {
    const { values, positionals } = parseFlags(argv, { rundir: { type: 'string' }, force: { type: 'boolean' } });
    if (positionals.length !== 2) throw new UsageError('expected DOMID and VDEV');
    const domid = intFlag('domid', positionals[0], 0, 1, 0x7fef);
    const ts = await openToolstack(resolveRundir(values.rundir, ctx.env));
    try {
      await detachDisk(ts.xs, domid, positionals[1]!, { force: values.force === true });
      return 0;
    } finally {
      await ts.close();
    }
  },
};
