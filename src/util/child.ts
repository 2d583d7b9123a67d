import type { ChildProcess } from 'node:child_process';

/** How long a child may take to exit after SIGTERM before it is killed. */
export const stopGraceMsDefault = 2000;

/**
 * Stop a child process: SIGTERM, then SIGKILL if it has not exited within `graceMs`. Resolves
 * once it has exited (at once if it already had), so that no caller leaves a process behind.
 */
export async function stopChild(child: ChildProcess, graceMs = stopGraceMsDefault): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}
