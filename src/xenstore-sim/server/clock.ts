/**
 * The daemon's time: a monotonic millisecond clock and one-shot timers. Passed in (see
 * XenstoreServerOptions.clock) so that tests can drive time instead of waiting for it.
 */
export interface DaemonClock {
  /** Milliseconds on a monotonic clock (C's CLOCK_MONOTONIC, as get_now_msec() reads it). */
  nowMs(): number;
  /**
   * Run `fn` once after `ms` milliseconds; the returned function cancels it. A pending timer
   * must not keep the process alive: the daemon lives as long as its socket does.
   */
  after(ms: number, fn: () => void): () => void;
}

/** The real clock: performance.now() and unref'd timers. */
export const SYSTEM_CLOCK: DaemonClock = Object.freeze({
  nowMs: () => Math.floor(performance.now()),
  after(ms: number, fn: () => void): () => void {
    const timer = setTimeout(fn, ms);
    timer.unref();
    return () => clearTimeout(timer);
  },
});
