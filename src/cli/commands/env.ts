import { parseFlags, type Command } from '../command.js';
import { resolveRundir, xenstoredSocketPath } from '../rundir.js';

export const command: Command = {
  summary: 'print the environment for real Xen tools (XENSTORED_PATH, SPLITBLK_RUNDIR)',
  usage: `usage: splitblk env [--rundir DIR]

Prints the shell exports that point real Xen tools (xenstore-ls, xenstore-watch, libxenstore
programs) and other splitblk verbs at this run directory:
  export SPLITBLK_RUNDIR='DIR'
  export XENSTORED_PATH='DIR/xenstored/socket'
e.g.  eval "$(splitblk env)"  then  xenstore-ls -fp /
Exit codes: 0 printed; 2 usage.`,
  async run(argv, ctx) {
    const { values } = parseFlags(argv, { rundir: { type: 'string' } }, false);
    const rundir = resolveRundir(values.rundir, ctx.env);
    const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
    ctx.stdout.write(`export SPLITBLK_RUNDIR=${quote(rundir)}\nexport XENSTORED_PATH=${quote(xenstoredSocketPath(rundir))}\n`);
    return 0;
  },
};
