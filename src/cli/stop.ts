/**
 * `--exit-with-parent`: a service started by a supervisor (`up`, `demo`, the benchmarks) stops
 * as on SIGTERM when its supervisor goes, however it goes - even SIGKILL, which gives the
 * supervisor no chance to stop its children. The supervisor holds the write end of our stdin
 * pipe; the kernel closes it when the supervisor dies, and we see end-of-file. Linux's
 * PR_SET_PDEATHSIG would do the same, but Node offers no way to set it.
 */
export function stopWhenParentGoes(stdin: NodeJS.ReadStream, stop: () => void): void {
  let fired = false;
  const fire = () => {
    if (fired) return;
    fired = true;
    stop();
  };
  stdin.on('end', fire);
  stdin.on('close', fire);
  stdin.on('error', fire);
  stdin.on('data', () => undefined);
  // Only the parent's death matters here: the pipe must not keep the process alive by itself.
  (stdin as unknown as { unref?: () => void }).unref?.();
  stdin.resume();
}

/**
 * Resolves on the first SIGTERM or SIGINT (or, with `exitWithParent`, when the parent goes),
 * for the foreground daemons. Install it before announcing readiness: callers take the socket
 * or "ready" as the sign of life and may signal at once.
 */
export function stopRequested(opts: { exitWithParent: boolean; stdin: NodeJS.ReadStream }): Promise<void> {
  return new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      resolve();
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
    if (opts.exitWithParent) stopWhenParentGoes(opts.stdin, stop);
  });
}
