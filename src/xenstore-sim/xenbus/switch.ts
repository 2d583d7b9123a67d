import type { XsClient } from '../client/api.js';
import { XsError } from '../client/api.js';
import { XenbusState, formatXenbusState, parseXenbusState } from './state.js';

export interface SwitchStateOptions {
  /** Write the node even when it does not exist yet (the toolstack creating a device). */
  create?: boolean;
}

/**
 * Publish `state` in the `state` node at `path`, as Linux's xenbus_switch_state does: in a
 * transaction, skip the write when the node already holds that state, and refuse (ENOENT)
 * when the node is gone rather than recreate a device directory the toolstack removed.
 * Returns the previous state (undefined when the node was absent).
 */
export async function switchState(client: XsClient, path: string, state: XenbusState, opts: SwitchStateOptions = {}): Promise<XenbusState | undefined> {
  return client.transaction(async (tx) => {
    const raw = await tx.readString(path);
    if (raw === undefined && opts.create !== true) throw new XsError('ENOENT', 'switch-state', path);
    const previous = raw === undefined ? undefined : parseXenbusState(raw) ?? XenbusState.Unknown;
    if (raw !== formatXenbusState(state)) await tx.write(path, formatXenbusState(state));
    return previous;
  });
}
