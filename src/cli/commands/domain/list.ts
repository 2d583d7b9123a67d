import { parseFlags, outputFlag, type Command } from '../../command.js';
import { resolveRundir } from '../../rundir.js';
import { openHypervisor } from '../../../hypervisor/hypervisor.js';
import { printTable } from '../../table.js';

export const command: Command = {
  summary: 'list domains',
  usage: `usage: splitblk domain list [--rundir DIR] [--output=json]

JSON: an array of {"domid", "name", "memory-bytes", "dying"}.`,
  async run(argv, ctx) {
    const { values } = parseFlags(argv, { rundir: { type: 'string' }, output: { type: 'string' } }, false);
    const format = outputFlag(values.output);
    const hypervisor = openHypervisor(resolveRundir(values.rundir, ctx.env));
    const rows = hypervisor.listDomains().map((d) => ({
      domid: d.domid, name: d.name, 'memory-bytes': d.memoryPages * 4096, dying: d.dying,
    }));
    if (format === 'json') ctx.stdout.write(JSON.stringify(rows) + '\n');
    else printTable(ctx.stdout, ['domid', 'name', 'memory-bytes', 'dying'], rows);
    return 0;
  },
};
