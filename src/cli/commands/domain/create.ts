import { parseFlags, intFlag, type Command } from '../../command.js';
import { resolveRundir } from '../../rundir.js';
import { openToolstack } from '../../../toolstack/connect.js';
import { createDomain } from '../../../toolstack/domain.js';

const MEMORY_MIB_DEFAULT = 64;
const MEMORY_MIB_MAX = 16384;

export const command: Command = {
  summary: 'create a simulated guest domain',
  usage: `usage: splitblk domain create [--domid N] [--name NAME] [--memory MiB] [--rundir DIR]

Creates the guest's memory (--memory MiB, default ${MEMORY_MIB_DEFAULT}), grant table and event channels, its
xenstore home (/local/domain/N, owned by dom0 and readable by the guest, with name and domid, and
libxl's sub-directories: device, control read-only, data, drivers, feature, attr, error and
control/shutdown guest-owned), and INTRODUCEs it to xenstored (@introduceDomain fires).
Without --domid the lowest free domid is used; the name defaults to domain-N.
Prints the domid on one line.
Exit codes: 0 created; 1 failed (e.g. domid in use, services not running); 2 usage.`,
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
