/**
 * The live storage operations of the control plane: snapshot and coalesce on attached disks,
 * run as jobs (src/tapdisk/drivers/vhd/live), and the job list, status and cancel requests.
 * A coalesce pauses and refreshes every VBD whose chain holds the node, found through the
 * data-path registry, in this process or in others (through their control sockets).
 */
import * as path from 'node:path';
import { SplitblkError } from '../../util/errors.js';
import { liveCoalesce } from '../drivers/vhd/live/coalesce.js';
import { leafPath } from '../drivers/vhd/live/disk.js';
import { JobTable, type JobReport, type ProgressSink } from '../drivers/vhd/live/job.js';
import { liveSnapshot } from '../drivers/vhd/live/snapshot.js';
import { ERR_NO_VBD } from '../errors.js';
import type { Tapdisk } from '../tapdisk.js';
import type { TapdiskClient } from './client.js';
import { LocalDisk, chainPath, connectUsers, findUsers, userChains, userMinors, type TrackedDisk } from './live-disks.js';
import type { JobDescription, JobOutcome } from './messages.js';

/** A request that names nothing usable (a relative path, a node outside the VBD's chain). */
export const ERR_BAD_REQUEST = 'SPLITBLK_ERR_BAD_REQUEST';
/** Another job of this process is changing an image of the same chain. */
export const ERR_CHAIN_BUSY = 'SPLITBLK_ERR_CHAIN_BUSY';
/**
 * The parent of the node is used by a VBD whose chain does not go through the node (a sibling
 * clone): merging the node into it would change what that VBD reads.
 */
export const ERR_PARENT_SHARED = 'SPLITBLK_ERR_PARENT_SHARED';

function absolute(what: string, p: string): string {
  if (!path.isAbsolute(p)) throw new SplitblkError(ERR_BAD_REQUEST, `${what} must be an absolute path, got ${JSON.stringify(p)}`, { path: p });
  return path.normalize(p);
}

export function describeJob(r: JobReport): JobDescription {
  return {
    id: r.id, kind: r.kind, status: r.status, current: r.current, total: r.total,
    error: r.error ?? null, result: r.status === 'done' ? (r.result as JobOutcome) : null,
  };
}

export class LiveOps {
  readonly jobs = new JobTable();
  /** Resolved paths of every image a running job may change or reopen. */
  private readonly busy = new Set<string>();

  /** `registry`: the data-path registry directory, if this process records its VBDs there. */
  constructor(private readonly tapdisk: Tapdisk, private readonly registry: string | undefined) {}

  /** Start a live snapshot of VBD `minor` onto the new leaf `newLeaf`. */
  snapshot(minor: number, newLeaf: string): JobDescription {
    const vbd = this.tapdisk.require(minor);
    const leaf = absolute('the new leaf', newLeaf);
    // A vhd: VBD, or SPLITBLK_ERR_VHD_NOT_VHD now rather than in the job. Only the current
    // leaf changes (it becomes history), so only it and the new leaf are held.
    const current = leafPath(vbd);
    const disk = new LocalDisk(vbd);
    const locked = [current, leaf];
    return this.start('snapshot', locked, false, async (job) => {
      const r = await liveSnapshot(disk, leaf, job);
      return { pauseMs: r.pauseMs, snapshot: r.snapshot, leaf: r.leaf, refreshed: disk.refreshed ? [minor] : [] };
    });
  }

  /**
   * Start a live coalesce of `node` into its parent. With `minor`, the node defaults to that
   * VBD's leaf and must be in its chain.
   */
  async coalesce(minor: number | null, node: string | null): Promise<JobDescription> {
    let target: string;
    if (minor !== null) {
      const chain = this.tapdisk.require(minor).info.chain.map(chainPath);
      target = node === null ? chain[0]! : absolute('the node', node);
      if (!chain.includes(target)) throw new SplitblkError(ERR_BAD_REQUEST, `${target} is not in the chain of VBD ${minor}`, { minor, path: target });
    } else {
      if (node === null) throw new SplitblkError(ERR_BAD_REQUEST, 'coalesce needs a node or a minor');
      target = absolute('the node', node);
    }
    const found = findUsers(this.tapdisk.vbds(), this.registry, target);
    const chains = userChains(found);
    if (chains.length === 0) {
      throw new SplitblkError(ERR_NO_VBD, `no VBD uses ${target}; coalesce it offline with splitblk image coalesce`, { path: target });
    }
    const chain = chains[0]!;
    const parent = chain[chain.indexOf(target) + 1];
    if (parent === undefined) throw new SplitblkError(ERR_BAD_REQUEST, `${target} has no parent to coalesce into`, { path: target });
    this.checkParentOnlyBelow(target, parent, userMinors(found));
    const clients = new Map<string, TapdiskClient>();
    const endAll = () => { for (const c of clients.values()) c.end(); };
    let users: TrackedDisk[];
    try {
      users = await connectUsers(found, clients);
    } catch (error) {
      endAll();
      throw error;
    }
    const locked = [target, parent, ...users.map((u) => leafPath(u)), `${target}.coalesce-leaf.vhd`];
    try {
      return this.start('coalesce', locked, true, async (job) => {
        try {
          const r = await liveCoalesce(users, target, job);
          return {
            pauseMs: r.pauseMs, snapshotPauseMs: r.snapshotPauseMs, node: r.node, parent: r.parent, removable: r.removable,
            refreshed: users.filter((u) => u.refreshed).map((u) => u.minor),
          };
        } finally {
          endAll();
        }
      });
    } catch (error) {
      endAll();
      throw error;
    }
  }

  /** Every VBD that reads `parent` must read it through `node`, or the merge changes its data. */
  private checkParentOnlyBelow(node: string, parent: string, nodeUsers: number[]): void {
    const others = userMinors(findUsers(this.tapdisk.vbds(), this.registry, parent)).filter((m) => !nodeUsers.includes(m));
    if (others.length > 0) {
      throw new SplitblkError(ERR_PARENT_SHARED,
        `${parent} is also used by VBD ${others.join(', ')} whose chain does not hold ${node}: merging would change its data`,
        { path: parent });
    }
  }

  list(): JobDescription[] {
    return this.jobs.list().map(describeJob);
  }

  status(id: string): JobDescription {
    return describeJob(this.jobs.require(id).report());
  }

  cancel(id: string): JobDescription {
    const job = this.jobs.require(id);
    job.cancel();
    return describeJob(job.report());
  }

  /** Start a job holding `paths` until it ends; refused while another job holds one of them. */
  private start(kind: string, paths: string[], cancellable: boolean, work: (job: ProgressSink) => Promise<JobOutcome>): JobDescription {
    const clash = paths.find((p) => this.busy.has(p));
    if (clash !== undefined) throw new SplitblkError(ERR_CHAIN_BUSY, `another job is changing ${clash}`, { path: clash });
    for (const p of paths) this.busy.add(p);
    const job = this.jobs.start(kind, async (sink) => {
      try {
        return await work(sink);
      } finally {
        for (const p of paths) this.busy.delete(p);
      }
    }, { cancellable });
    return describeJob(job.report());
  }
}
