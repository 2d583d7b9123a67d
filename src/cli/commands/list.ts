import { parseFlags, outputFlag, type Command } from '../command.js';
import { resolveRundir } from '../rundir.js';
import { openToolstack } from '../../toolstack/connect.js';
import { listDisks } from '../../toolstack/vbd.js';
import { printTable } from '../table.js';

export const command: Command = {
  summary: 'list block devices with backend and frontend states',
  usage: `usage: splitblk list [--rundir DIR] [--output=json]

JSON: an array of {"domid", "devid", "vdev", "params", "mode", "backend-state", "frontend-state"}.`,
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
