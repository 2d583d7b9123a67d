import * as path from 'node:path';
import { SplitblkError } from '../../../util/errors.js';
import { outputFlag, parseFlags, UsageError, type Command } from '../../command.js';
import { resolveRundir } from '../../rundir.js';
import type { TapdiskClient } from '../../../tapdisk/control/client.js';
import { findChainUsers, registryDir } from '../../../tapdisk/control/datapaths.js';
import { ERR_NO_VBD } from '../../../tapdisk/errors.js';
import { jobFailure, reportJob } from '../job/common.js';
import { connect, locate, parseSelector, selectorFlags } from './common.js';

export const command: Command = {
  summary: 'live coalesce of a VHD chain node into its parent, refreshing every VBD on the chain (a job)',
  usage: `usage: splitblk tap coalesce [--minor N | --device DOMID/VDEV] [NODE] [--wait] [-p] [--rundir DIR] [--output=json]

Starts a job that merges NODE into its parent while the disks keep running:
  - NODE not a leaf: its sectors are copied into the parent, then every VBD whose chain holds
    NODE (found through the data-path registry, in any tapdisk process of the run directory)
    is paused, NODE's child is re-parented onto the parent, and the VBDs are unpaused;
  - NODE the leaf of a VBD (the default with --minor/--device and no NODE): snapshot onto a
    temporary leaf NODE.coalesce-leaf.vhd (a short pause), copy NODE into the parent while the
    guest writes to the temporary leaf, then pause, copy what it wrote, and unpause onto the
    parent. result pause-ms is that last guest-visible pause, snapshot-pause-ms the first.
NODE and the temporary leaf are left in place (result: removable). Prints the job; --wait
waits for it, -p draws a progress bar on stderr meanwhile. Cancel it with splitblk job cancel.
Exit codes: 0 started (without --wait) or done; 1 failed; 2 bad usage; 3 no VBD uses NODE;
4 no tapdisk reachable; 5 cancelled.`,
  async run(argv, ctx) {
    const { values, positionals } = parseFlags(argv, {
      ...selectorFlags, wait: { type: 'boolean' }, p: { type: 'boolean', short: 'p' },
    });
    const format = outputFlag(values.output);
    if (positionals.length > 1) throw new UsageError('expected at most one NODE');
    const node = positionals[0] === undefined ? undefined : path.resolve(positionals[0]);
    const byVbd = values.minor !== undefined || values.device !== undefined;
    if (!byVbd && node === undefined) throw new UsageError('name the NODE to coalesce, or the VBD with --minor N or --device DOMID/VDEV');
    const rundir = resolveRundir(values.rundir, ctx.env);
    try {
      let client: TapdiskClient;
      let minor: number | undefined;
      if (byVbd) {
        const found = await locate(rundir, parseSelector(values));
        client = found.client;
        minor = found.vbd.minor;
      } else {
        client = await userTapdisk(rundir, node!);
      }
      try {
        const started = await client.coalesce({ minor, node });
        return await reportJob(ctx, client, started, { wait: values.wait === true, bar: values.p === true, json: format === 'json' });
      } finally {
        client.end();
      }
    } catch (error) {
      return jobFailure(ctx, 'tap coalesce', error);
    }
  },
};

/** A tapdisk that uses NODE, the one whose leaf it is first: the job runs there. */
async function userTapdisk(rundir: string, node: string): Promise<TapdiskClient> {
  const users = findChainUsers(registryDir(rundir), node).filter((e) => e.socket !== null);
  users.sort((a, b) => Number(b.chain[0]?.endsWith(node) ?? false) - Number(a.chain[0]?.endsWith(node) ?? false));
  if (users.length === 0) {
    throw new SplitblkError(ERR_NO_VBD, `no attached VBD uses ${node}; coalesce it offline with splitblk image coalesce`, { path: node });
  }
  return connect(users[0]!.socket!);
}
