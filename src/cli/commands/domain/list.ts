import { existsSync } from 'node:fs';
import { parseFlags, outputFlag, type Command } from '../../command.js';
import { resolveRundir } from '../../rundir.js';
import { openHypervisor } from '../../../hypervisor/hypervisor.js';
import { printTable } from '../../table.js';
import { SplitblkError } from '../../../util/errors.js';

export const command: Command = {
  summary: 'list domains',
  usage: `usage: splitblk domain list [--rundir DIR] [--output=json]

Every domain of the run directory's hypervisor emulation, Domain-0 included. A table for
people; --output=json prints an array of {"domid", "name", "memory-bytes", "dying"}
(memory-bytes: the guest memory in bytes; dying: being destroyed).
Exit codes: 0 listed; 1 no run directory; 2 usage.`,
  async run(argv, ctx) {
    const { values } = parseFlags(argv, { rundir: { type: 'string' }, output: { type: 'string' } }, false);
    const format = outputFlag(values.output);
    const rundir = resolveRundir(values.rundir, ctx.env);
    // Opening the hypervisor emulation creates its directories: do not leave one behind for a typo.
    if (!existsSync(rundir)) {
      throw new SplitblkError('SPLITBLK_ERR_NOT_RUNNING', `no run directory at ${rundir} (run 'splitblk up' first)`, { path: rundir });
    }
    const hypervisor = openHypervisor(rundir);
    const rows = hypervisor.listDomains().map((d) => ({
      domid: d.domid, name: d.name, 'memory-bytes': d.memoryPages * 4096, dying: d.dying,
    }));
    if (format === 'json') ctx.stdout.write(JSON.stringify(rows) + '\n');
    else printTable(ctx.stdout, ['domid', 'name', 'memory-bytes', 'dying'], rows);
    return 0;
  },
};
