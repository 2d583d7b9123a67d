import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** `splitblk up` records its pid here so that `down` can find it. */
export const pidFilePath = (rundir: string): string => join(rundir, 'up.pid');

export function readPid(path: string): number | undefined {
  try {
    const pid = Number(readFileSync(path, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Whether the process runs. A zombie does not: `up --detach` leaves `up` to be reaped by init,
 * which may take a while, and `down` must not wait for that.
 */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  return !isZombie(pid);
}

/** /proc/PID/stat is "pid (comm) state ..."; comm may hold spaces and parentheses, so split at the last ')'. */
function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
  } catch {
    return false;
  }
}
