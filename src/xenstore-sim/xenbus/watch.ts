import { SplitblkError } from '../../util/errors.js';
import type { XsClient, XsWatch } from '../client/api.js';
import { XenbusState, parseXenbusState } from './state.js';

/**
 * A device's `state` node as a stream of typed values: undefined when the node is absent, the
 * parsed XenbusState otherwise. A value that does not parse reads as XenbusState.Unknown, as
 * Linux's xenbus_read_driver_state treats it.
 */
export interface XenbusStateWatch extends AsyncIterable<XenbusState | undefined> {
  readonly path: string;
  close(): Promise<void>;
}

export interface WatchStateOptions {
  /** Yield only when the value differs from the last one yielded (default true). */
  distinct?: boolean;
}

/** Read `path` as a XenbusState (undefined when the node does not exist). */
export async function readXenbusState(client: Pick<XsClient, 'readString'>, path: string): Promise<XenbusState | undefined> {
  const raw = await client.readString(path);
  if (raw === undefined) return undefined;
  return parseXenbusState(raw) ?? XenbusState.Unknown;
}

/**
 * Watch the `state` node at `path`. The first value is the state when the watch registered;
 * after that one value per change (or per event when `distinct` is false). Breaking out of the
 * loop or close() unregisters the watch.
 */
export async function watchXenbusState(client: XsClient, path: string, opts: WatchStateOptions = {}): Promise<XenbusStateWatch> {
  const distinct = opts.distinct ?? true;
  const watch: XsWatch = await client.watch(path);
  async function* states(): AsyncGenerator<XenbusState | undefined> {
    let first = true;
    let last: XenbusState | undefined;
    try {
      for await (const _event of watch) {
        const state = await readXenbusState(client, path);
        if (distinct && !first && state === last) continue;
        first = false;
        last = state;
        yield state;
      }
    } finally {
      await watch.close();
    }
  }
  return {
    path,
    [Symbol.asyncIterator]: states,
    close: () => watch.close(),
  };
}

/** The state node did not reach the wanted state in time. */
export const XENBUS_TIMEOUT = 'SPLITBLK_ERR_XENBUS_TIMEOUT';

/**
 * Resolve with the first state of `path` that satisfies `predicate` (checked on the current
 * value, then on every change), or reject with SPLITBLK_ERR_XENBUS_TIMEOUT after `timeoutMs`.
 */
export async function waitForState(
  client: XsClient,
  path: string,
  predicate: (state: XenbusState | undefined) => boolean,
  timeoutMs: number,
): Promise<XenbusState | undefined> {
  const watch = await watchXenbusState(client, path, { distinct: false });
  let last: XenbusState | undefined;
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    void watch.close();
  }, timeoutMs);
  try {
    for await (const state of watch) {
      last = state;
      if (predicate(state)) return state;
    }
  } finally {
    clearTimeout(timer);
    await watch.close();
  }
  const why = timedOut ? `did not reach the wanted state within ${timeoutMs} ms` : 'watch ended before the wanted state';
  throw new SplitblkError(XENBUS_TIMEOUT, `xenbus ${path}: ${why} (last ${last === undefined ? 'absent' : XenbusState[last]})`, {
    path,
    last,
  });
}
