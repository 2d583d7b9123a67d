/**
 * A promise settled once: `.then(fn)` on it queues fn as a plain V8 microtask. The data path
 * posts one per batch (a submit, a harvest, a push of responses); queueMicrotask() would also
 * create an async resource and a bound function for each, several hundred nanoseconds apiece.
 */
const settled = Promise.resolve();

/** Run `fn` in a microtask, once the code now running has returned. */
export function postMicrotask(fn: () => void): void {
  void settled.then(fn);
}
