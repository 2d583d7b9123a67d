import { parseFlags, UsageError, intFlag, type Command } from '../../command.js';
import { resolveRundir } from '../../rundir.js';
import { openToolstack } from '../../../toolstack/connect.js';
import { destroyDomain } from '../../../toolstack/domain.js';

export const command: Command = {
  summary: 'destroy a simulated guest domain',
  usage: `usage: splitblk domain destroy DOMID [--rundir DIR]

Removes the domain's backend device directories (the backend tears them down), RELEASEs it
(@releaseDomain fires), removes its xenstore home, memory, grant table and event channels.
Prints nothing. Exit codes: 0 destroyed; 1 no such domain (or domain 0), services not running;
2 usage.`,
  async run(argv, ctx) {
    const { values, positionals } = parseFlags(argv, { rundir: { type: 'string' } });
    if (positionals.length !== 1) throw new UsageError('expected exactly one DOMID');
    const domid = intFlag('domid', positionals[0], 0, 1, 0x7fef);
    const ts = await openToolstack(resolveRundir(values.rundir, ctx.env));
    try {
      await destroyDomain(ts, domid);
      return 0;
    } finally {
      await ts.close();
    }
  },
};
