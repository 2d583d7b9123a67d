import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** `splitblk up` records its pid here so that `down` can find it. */
export const pidFilePath = (rundir: string): string => join(rundir, 'up.pid');

/**
 * And each service's pid here, on every (re)start, so that `down` can still stop services
 * whose `up` was killed without a chance to stop them.
 */
export const servicePidDir = (rundir: string): string => join(rundir, 'services');
export const servicePidPath = (rundir: string, name: string): string => join(servicePidDir(rundir), `${name}.pid`);

/** The recorded services of a run directory that still run there (not a recycled pid). */
export function liveServices(rundir: string): Array<{ name: string; pid: number }> {
  let files: string[];
  try {
    files = readdirSync(servicePidDir(rundir)).filter((f) => f.endsWith('.pid'));
  } catch {
    return [];
  }
  const live: Array<{ name: string; pid: number }> = [];
  for (const file of files) {
    const pid = readPid(join(servicePidDir(rundir), file));
    if (pid !== undefined && processAlive(pid) && runsIn(pid, rundir)) live.push({ name: file.slice(0, -'.pid'.length), pid });
  }
  return live;
}

/** Whether the process's command line names the run directory (so the pid was not reused). */
function runsIn(pid: number, rundir: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').some((a) => a === rundir || a.startsWith(`${rundir}/`));
  } catch {
    return false;
  }
}

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
