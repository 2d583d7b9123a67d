import type { XsClient, XsWatch } from '../xenstore-sim/client/api.js';
import { XenbusState, parseXenbusState } from '../xenstore-sim/xenbus/state.js';

/**
 * Print each XenbusState change of some `state` nodes as it happens ("backend  InitWait ->
 * Connected"), for the demo and for people watching a device come up.
 */
export async function watchStates(xs: XsClient, nodes: Array<[label: string, path: string]>, say: (line: string) => void): Promise<{ close(): Promise<void> }> {
  const watches: XsWatch[] = [];
  for (const [label, path] of nodes) {
    const watch = await xs.watch(path);
    watches.push(watch);
    void (async () => {
      let last: string | undefined;
      for await (const _event of watch) {
        const raw = await xs.readString(path).catch(() => undefined);
        const state = raw === undefined ? undefined : parseXenbusState(raw);
        const name = state === undefined ? (raw === undefined ? 'gone' : `invalid(${raw})`) : XenbusState[state];
        if (name === last || (last === undefined && name === 'gone')) continue;
        say(`xenbus: ${label} ${last === undefined ? '' : `${last} -> `}${name}`);
        last = name;
      }
    })().catch(() => undefined);
  }
  return {
    async close() {
      await Promise.all(watches.map((w) => w.close()));
    },
  };
}
