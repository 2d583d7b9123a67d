import { parseFlags, intFlag, type Command } from '../../command.js';
import { resolveRundir } from '../../rundir.js';
import { openToolstack } from '../../../toolstack/connect.js';
import { createDomain } from '../../../toolstack/domain.js';

const MEMORY_MIB_DEFAULT = 64;
const MEMORY_MIB_MAX = 16384;

export const command: Command = {
  summary: 'create a simulated guest domain',
  usage: `usage: splitblk domain create [--domid N] [--name NAME] [--memory MiB] [--rundir DIR]

Creates the guest's memory, grant table and event channels, its xenstore home
(/local/domain/N with libxl's permissions, name, domid), and INTRODUCEs it to xenstored.
Prints the domid. Exit codes: 0 created; 1 failed (e.g. domid in use, services not up); 2 usage.`,
  async run(argv, ctx) {
    const { values } = parseFlags(argv, {
      domid: { type: 'string' }, name: { type: 'string' }, memory: { type: 'string' }, rundir: { type: 'string' },
    }, false);
    const domid = values.domid === undefined ? undefined : intFlag('domid', values.domid, 0, 1, 0x7fef);
    const memoryMiB = intFlag('memory', values.memory, MEMORY_MIB_DEFAULT, 1, MEMORY_MIB_MAX);
    const ts = await openToolstack(resolveRundir(values.rundir, ctx.env));
    try {
      const info = await createDomain(ts, { domid, name: values.name, memoryMiB });
      ctx.stdout.write(`${info.domid}\n`);
      return 0;
    } finally {
      await ts.close();
    }
  },
};
