/** Live snapshot: pause, add an empty differencing leaf on the current leaf, unpause onto it. */
import { createVhd } from '../create.js';
import { leafPath, specOn, whilePaused, type LiveDisk } from './disk.js';
import type { ProgressSink } from './job.js';

export interface LiveSnapshotResult {
  /** The old leaf, now read-only history. */
  snapshot: string;
  leaf: string;
  pauseMs: number;
}

export async function liveSnapshot(disk: LiveDisk, newLeaf: string, job?: ProgressSink, now = () => performance.now()): Promise<LiveSnapshotResult> {
  const old = leafPath(disk);
  job?.progress(0, 1);
  const pauseMs = await whilePaused(
    [disk],
    async () => {
      await createVhd({ path: newLeaf, type: 'differencing', parent: old });
    },
    (d) => specOn(d, newLeaf),
    now,
  );
  job?.progress(1, 1);
  return { snapshot: old, leaf: newLeaf, pauseMs };
}
