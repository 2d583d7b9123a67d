/** What a live operation needs from an attached disk: a Vbd (src/tapdisk/vbd.ts) fits. */
import { resolve } from 'node:path';
import { SplitblkError } from '../../../../util/errors.js';
import { parseSpec } from '../../../spec.js';

export interface LiveDisk {
  /** The `vhd:/path[?params]` the disk serves now. */
  readonly spec: string;
  /** Stop taking requests, drain, close the chain. */
  pause(): Promise<void>;
  /** Reopen, optionally onto another spec of the same size. */
  unpause(spec?: string): Promise<void>;
}

/** The leaf path of a disk's `vhd:` spec, resolved. */
export function leafPath(disk: LiveDisk): string {
  const s = parseSpec(disk.spec);
  if (!s.ok) throw s.error;
  if (s.value.type !== 'vhd') throw new SplitblkError('SPLITBLK_ERR_VHD_NOT_VHD', `${disk.spec}: not a vhd: disk`, { spec: disk.spec });
  return resolve(s.value.path);
}

/** The same spec (parameters kept) on another leaf. */
export function specOn(disk: LiveDisk, path: string): string {
  const q = disk.spec.indexOf('?');
  return `vhd:${path}${q < 0 ? '' : disk.spec.slice(q)}`;
}

/**
 * Pause every disk, run `fn`, unpause each onto `respec(disk)` (its old spec if that fails),
 * and return how long the guests saw no progress, in milliseconds.
 */
export async function whilePaused(disks: LiveDisk[], fn: () => Promise<void>, respec: (d: LiveDisk) => string, now: () => number): Promise<number> {
  const t0 = now();
  const paused: LiveDisk[] = [];
  try {
    for (const d of disks) {
      await d.pause();
      paused.push(d);
    }
    await fn();
  } catch (error) {
    for (const d of paused) await d.unpause().catch(() => undefined);
    throw error;
  }
  for (const d of paused) {
    const next = respec(d);
    try {
      await d.unpause(next);
    } catch (error) {
      await d.unpause().catch(() => undefined);
      throw error;
    }
  }
  return now() - t0;
}
