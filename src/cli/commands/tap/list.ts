import { outputFlag, parseFlags, type Command } from '../../command.js';
import { resolveRundir } from '../../rundir.js';
import { printTable } from '../../table.js';
import { eachTapdisk, failure, vbdColumns, vbdJson, vbdRow } from './common.js';

export const command: Command = {
  summary: 'list the VBDs of every tapdisk process',
  usage: `usage: splitblk tap list [--rundir DIR] [--minor N | --device DOMID/VDEV] [--output=json]

Asks every tapdisk of the run directory (its control sockets under <rundir>/tapdisk/) for its
VBDs. A table on a terminal; --output=json prints an array of
{"minor", "domain", "device", "state", "chain", "spec", "pid", "sectors", "sector-size", "bytes",
"readonly"} (domain/device null when the VBD serves no guest device).
Exit codes: 0 listed (possibly nothing), 1 failed, 2 bad usage.`,
  async run(argv, ctx) {
    const { values } = parseFlags(argv, {
      rundir: { type: 'string' }, output: { type: 'string' },
      minor: { type: 'string', short: 'm' }, device: { type: 'string', short: 'd' },
    }, false);
    const format = outputFlag(values.output);
    const rundir = resolveRundir(values.rundir, ctx.env);
    try {
      const vbds = (await eachTapdisk(rundir, (c) => c.list())).flat().sort((a, b) => a.minor - b.minor);
      const minor = values.minor === undefined ? undefined : Number(values.minor);
      const selected = vbds.filter((v) => (minor === undefined || v.minor === minor)
        && (values.device === undefined || `${v.domid}/${v.device}` === values.device));
      if (format === 'json') ctx.stdout.write(JSON.stringify(selected.map(vbdJson)) + '\n');
      else printTable(ctx.stdout, vbdColumns, selected.map(vbdRow));
      return 0;
    } catch (error) {
      return failure(ctx, 'list', error);
    }
  },
};
