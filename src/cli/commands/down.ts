import { rmSync } from 'node:fs';
import { parseFlags, EXIT_FAILURE, type Command } from '../command.js';
import { resolveRundir } from '../rundir.js';
import { pidFilePath, processAlive, readPid } from '../../toolstack/pidfile.js';

const STOP_WAIT_MS = 20_000;
const POLL_MS = 50;

export const command: Command = {
  summary: 'stop the services started by up, and remove the run directory',
  usage: `usage: splitblk down [--rundir DIR]

Sends SIGTERM to the 'splitblk up' of the run directory, waits for it and its services to exit,
then removes the run directory (sockets, domains' shared memory).
Exit codes: 0 stopped (or nothing was running); 1 it did not stop in time; 2 usage.`,
  async run(argv, ctx) {
    const { values } = parseFlags(argv, { rundir: { type: 'string' } }, false);
    const rundir = resolveRundir(values.rundir, ctx.env);
    const pid = readPid(pidFilePath(rundir));
    if (pid !== undefined && processAlive(pid)) {
      process.kill(pid, 'SIGTERM');
      const deadline = Date.now() + STOP_WAIT_MS;
      while (processAlive(pid)) {
        if (Date.now() > deadline) {
          ctx.stderr.write(`splitblk down: pid ${pid} did not stop within ${STOP_WAIT_MS / 1000} s\n`);
          return EXIT_FAILURE;
        }
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      }
    }
    rmSync(rundir, { recursive: true, force: true });
    return 0;
  },
};
