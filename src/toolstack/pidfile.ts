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

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
