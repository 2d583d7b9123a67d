import { rmSync } from 'node:fs';
import { parseFlags, EXIT_FAILURE, type Command, type CommandContext } from '../command.js';
import { resolveRundir } from '../rundir.js';
import { liveServices, pidFilePath, processAlive, readPid } from '../../toolstack/pidfile.js';

const STOP_WAIT_MS = 20_000;
const POLL_MS = 50;

export const command: Command = {
  summary: 'stop the services started by up, and remove the run directory',
  usage: `usage: splitblk down [--rundir DIR]

Sends SIGTERM to the 'splitblk up' of the run directory and waits for it and its services to
exit. Services left running by an 'up' that was killed (SIGKILL) are found through the pids it
recorded in DIR/services/ and sent SIGTERM themselves. Then removes the run directory (sockets,
domains' shared memory, grant tables and event channels, up.log). Prints nothing unless it had
to stop such left-over services.
Exit codes: 0 stopped (or nothing was running); 1 something did not stop within ${STOP_WAIT_MS / 1000} s (the run
directory is then kept); 2 usage.`,
  async run(argv, ctx) {
    const { values } = parseFlags(argv, { rundir: { type: 'string' } }, false);
    const rundir = resolveRundir(values.rundir, ctx.env);
    const up = readPid(pidFilePath(rundir));
    if (up !== undefined && processAlive(up)) {
      process.kill(up, 'SIGTERM');
      if (!(await exited(up, ctx, 'splitblk up'))) return EXIT_FAILURE;
    }
    // Normally none: `up` stops its services before it exits. xenstored goes last, as `up` does
    // it, so that the backend can close its devices through it.
    const leftOver = liveServices(rundir).sort((a, b) => Number(a.name === 'xenstored') - Number(b.name === 'xenstored'));
    for (const service of leftOver) {
      ctx.stderr.write(`splitblk down: stopping ${service.name} (pid ${service.pid}), left running by an earlier up\n`);
      process.kill(service.pid, 'SIGTERM');
      if (!(await exited(service.pid, ctx, service.name))) return EXIT_FAILURE;
    }
    rmSync(rundir, { recursive: true, force: true });
    return 0;
  },
};

/** Wait for a signalled process to exit; false (with a message) if it does not in time. */
async function exited(pid: number, ctx: CommandContext, what: string): Promise<boolean> {
  const deadline = Date.now() + STOP_WAIT_MS;
  while (processAlive(pid)) {
    if (Date.now() > deadline) {
      ctx.stderr.write(`splitblk down: ${what} (pid ${pid}) did not stop within ${STOP_WAIT_MS / 1000} s\n`);
      return false;
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  return true;
}
