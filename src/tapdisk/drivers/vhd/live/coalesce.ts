/**
 * Live coalesce of a node of the chain into its parent while the disks that use it keep running.
 *
 * Non-leaf node N (parent P, children C...): copy N's sectors into P while the guests run (they
 * read N before P, so what they see does not change), then pause every disk on the chain,
 * re-parent each child onto P, and unpause (the reopened chains skip N).
 *
 * Leaf node L of one disk (parent P): snapshot L onto a new leaf L' (a short pause), coalesce L
 * into P as a non-leaf while the guest writes to L', then pause, re-parent L' onto P, copy what
 * the guest wrote to L' meanwhile into P, and unpause onto P. The second pause lasts as long as
 * that last copy: it is measured and returned. P must have no other children.
 */
import { resolve } from 'node:path';
import { SplitblkError } from '../../../../util/errors.js';
import { VhdErrorCode, vhdError } from '../../../../vhd/index.js';
import { closeLayers, openChain } from '../chain.js';
import { coalesceVhd } from '../ops/coalesce.js';
import { canReparent, reparentVhd } from '../ops/reparent.js';
import { findParent } from '../parent.js';
import { VhdFile } from '../vhd-file.js';
import { leafPath, specOn, whilePaused, type LiveDisk } from './disk.js';
import type { ProgressSink } from './job.js';
import { liveSnapshot } from './snapshot.js';

export interface LiveCoalesceResult {
  node: string;
  parent: string;
  /** Files no chain uses any more; the caller may delete them. */
  removable: string[];
  /** Guest-visible pause of the final step, and of the snapshot step (leaf coalesce only). */
  pauseMs: number;
  snapshotPauseMs?: number;
}

export interface LiveCoalesceOptions {
  /** Leaf coalesce: where to put the temporary leaf (default: NODE.coalesce-leaf.vhd). */
  tmpLeaf?: string;
  now?: () => number;
}

export async function liveCoalesce(
  disks: LiveDisk[],
  node: string,
  job?: ProgressSink,
  opts: LiveCoalesceOptions = {},
): Promise<LiveCoalesceResult> {
  const now = opts.now ?? (() => performance.now());
  const target = resolve(node);
  const owners = disks.filter((d) => leafPath(d) === target);
  if (owners.length > 1) throw vhdError(VhdErrorCode.BadField, `${target} is the leaf of ${owners.length} disks`);
  if (owners.length === 1) return leafCoalesce(owners[0]!, target, job, opts.tmpLeaf ?? `${target}.coalesce-leaf.vhd`, now);
  return nonLeafCoalesce(disks, target, job, now);
}

/**
 * The bulk copy's progress callback. Stopping between two blocks is safe: the guests read the
 * node before its parent, so sectors already copied into the parent change nothing they see.
 */
function copyProgress(job: ProgressSink | undefined): (done: number, total: number) => void {
  return (done, total) => {
    job?.progress(done, total);
    job?.cancelPoint?.();
  };
}

async function parentOf(path: string): Promise<string> {
  const vhd = await VhdFile.open(path, false);
  try {
    return await findParent(vhd);
  } finally {
    await vhd.close();
  }
}

/** The disks whose chain contains `node`, and the images right above it in those chains. */
async function usersOf(disks: LiveDisk[], node: string): Promise<{ users: LiveDisk[]; children: string[] }> {
  const users: LiveDisk[] = [];
  const children = new Set<string>();
  for (const d of disks) {
    const layers = await openChain(leafPath(d), { writable: false });
    const at = layers.findIndex((l) => resolve(l.path) === node);
    if (at > 0) {
      users.push(d);
      children.add(resolve(layers[at - 1]!.path));
    }
    await closeLayers(layers);
  }
  return { users, children: [...children] };
}

async function nonLeafCoalesce(disks: LiveDisk[], node: string, job: ProgressSink | undefined, now: () => number): Promise<LiveCoalesceResult> {
  const parent = await parentOf(node);
  const { users, children } = await usersOf(disks, node);
  for (const c of children) await canReparent(c, parent);
  await coalesceVhd(node, copyProgress(job));
  const pauseMs = await whilePaused(
    users,
    async () => {
      for (const c of children) await reparentVhd(c, parent);
    },
    (d) => d.spec,
    now,
  );
  return { node, parent, removable: [node], pauseMs };
}

async function leafCoalesce(
  disk: LiveDisk,
  leaf: string,
  job: ProgressSink | undefined,
  tmpLeaf: string,
  now: () => number,
): Promise<LiveCoalesceResult> {
  const parent = await parentOf(leaf);
  await canReparent(leaf, parent);
  const snap = await liveSnapshot(disk, tmpLeaf, undefined, now);
  try {
    await coalesceVhd(leaf, copyProgress(job));
  } catch (error) {
    // The disk runs on the temporary leaf now, a consistent chain (tmp <- leaf <- parent);
    // whoever retries coalesces the old leaf as a non-leaf node.
    if (error instanceof SplitblkError) error.message += `; ${disk.spec} stays on ${tmpLeaf}`;
    throw error;
  }
  const pauseMs = await whilePaused(
    [disk],
    async () => {
      await reparentVhd(tmpLeaf, parent);
      await coalesceVhd(tmpLeaf);
    },
    (d) => specOn(d, parent),
    now,
  );
  return { node: leaf, parent, removable: [leaf, tmpLeaf], pauseMs, snapshotPauseMs: snap.pauseMs };
}
