/**
 * Time, passed in rather than read from globals, so tests and simulators can drive it.
 */
export interface Clock {
  /** Monotonic milliseconds (fractional). */
  now(): number;
  /** Call `fn` every `ms` milliseconds until cancelled. Starts unreferenced: it keeps the process
   *  alive only while ref()'d. */
  every(ms: number, fn: () => void): Ticker;
}

export interface Ticker {
  ref(): void;
  unref(): void;
  cancel(): void;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  every(ms, fn) {
    const timer = setInterval(fn, ms);
    timer.unref();
    return {
      ref: () => void timer.ref(),
      unref: () => void timer.unref(),
      cancel: () => clearInterval(timer),
    };
  },
};
