import { userInfo } from 'node:os';
import { join } from 'node:path';

/**
 * The run directory holds everything a splitblk installation shares between its processes:
 * the xenstored socket, the domains' memory, grant tables and event channels, and the tapdisk
 * control sockets. It must be on tmpfs (shared memory files live there), and short, because a
 * unix socket path is limited to 108 bytes.
 *
 * Resolution order: the --rundir flag, then SPLITBLK_RUNDIR, then /dev/shm/splitblk-<uid>.
 * Only the CLI layer calls this; libraries take the directory as a parameter.
 */
export function resolveRundir(flag: string | undefined, env: NodeJS.ProcessEnv): string {
  if (flag !== undefined && flag !== '') return flag;
  const fromEnv = env['SPLITBLK_RUNDIR'];
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  return join('/dev/shm', `splitblk-${userInfo().uid}`);
}

/** Where xenstored listens under a run directory (XENSTORED_RUNDIR = the folder). */
export function xenstoredSocketPath(rundir: string): string {
  return join(rundir, 'xenstored', 'socket');
}

/** Where the backend process's tapdisk control plane listens. */
export function controlSocketPath(rundir: string): string {
  return join(rundir, 'tapdisk', 'control.sock');
}
