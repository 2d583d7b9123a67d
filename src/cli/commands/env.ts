import { parseFlags, type Command } from '../command.js';
import { resolveRundir, xenstoredSocketPath } from '../rundir.js';

export const command: Command = {
  summary: 'print the environment for real Xen tools (XENSTORED_PATH, SPLITBLK_RUNDIR)',
  usage: `usage: splitblk env [--rundir DIR]

Prints shell exports, e.g.  eval "$(splitblk env)"  then  xenstore-ls -fp /`,
  async run(argv, ctx) {
    const { values } = parseFlags(argv, { rundir: { type: 'string' } }, false);
    const rundir = resolveRundir(values.rundir, ctx.env);
    const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
    ctx.stdout.write(`export SPLITBLK_RUNDIR=${quote(rundir)}\nexport XENSTORED_PATH=${quote(xenstoredSocketPath(rundir))}\n`);
    return 0;
  },
};
