import { parseFlags, outputFlag, type Command } from '../command.js';
import { resolveRundir } from '../rundir.js';
import { openToolstack } from '../../toolstack/connect.js';
import { listDisks } from '../../toolstack/vbd.js';
import { printTable } from '../table.js';

export const command: Command = {
  summary: 'list block devices with backend and frontend states',
  usage: `usage: splitblk list [--rundir DIR] [--output=json]

Every block device dom0 serves (the directories under /local/domain/0/backend/vbd), with the
XenbusState of both ends by name (Initialising, InitWait, Initialised, Connected, Closing,
Closed; "absent" when the node is missing). A table for people; --output=json prints an array,
sorted by domid then devid, of
{"domid", "devid", "vdev", "params", "mode", "backend-state", "frontend-state"}
where params is the tapdisk "driver:/path" (aio: for raw, vhd: for VHD) and mode is "w" or "r".
Exit codes: 0 listed (possibly nothing); 1 services not running; 2 usage.`,
  async run(argv, ctx) {
    const { values } = parseFlags(argv, { rundir: { type: 'string' }, output: { type: 'string' } }, false);
    const format = outputFlag(values.output);
    const ts = await openToolstack(resolveRundir(values.rundir, ctx.env));
    try {
      const rows = (await listDisks(ts.xs)).map((d) => ({
        domid: d.domid, devid: d.devid, vdev: d.vdev, params: d.params, mode: d.mode,
        'backend-state': d.backendState, 'frontend-state': d.frontendState,
      }));
      if (format === 'json') ctx.stdout.write(JSON.stringify(rows) + '\n');
      else printTable(ctx.stdout, ['domid', 'vdev', 'devid', 'backend-state', 'frontend-state', 'mode', 'params'], rows);
      return 0;
    } finally {
      await ts.close();
    }
  },
};
