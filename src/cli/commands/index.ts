import type { Command } from '../command.js';

/**
 * The static table of verbs. A verb's module is imported only when it runs, so `splitblk help`
 * stays fast. Groups (tap, image, domain, bench) map to their own tables of sub-verbs.
 * Each verb lives in its own file: commands/<verb>.ts or commands/<group>/<verb>.ts.
 */
export type Loader = () => Promise<Command>;
export interface Group {
  summary: string;
  verbs: Record<string, Loader>;
  /** What `splitblk <group>` runs with no sub-verb (or only flags); absent: a usage error. */
  default?: Loader;
}

const load = (p: Promise<{ command: Command }>): Promise<Command> => p.then((m) => m.command);

export const commands: Record<string, Loader | Group> = {
  backend: () => load(import('./backend.js')),
  demo: () => load(import('./demo.js')),
  up: () => load(import('./up.js')),
  down: () => load(import('./down.js')),
  env: () => load(import('./env.js')),
  domain: {
    summary: 'simulated guest domains',
    verbs: {
      create: () => load(import('./domain/create.js')),
      destroy: () => load(import('./domain/destroy.js')),
      list: () => load(import('./domain/list.js')),
    },
  },
  attach: () => load(import('./attach.js')),
  detach: () => load(import('./detach.js')),
  list: () => load(import('./list.js')),
  frontend: () => load(import('./frontend.js')),
  xenstored: () => load(import('./xenstored.js')),
  tap: {
    summary: 'tapdisk VBDs, tap-ctl style',
    verbs: {
      list: () => load(import('./tap/list.js')),
      create: () => load(import('./tap/create.js')),
      destroy: () => load(import('./tap/destroy.js')),
      pause: () => load(import('./tap/pause.js')),
      unpause: () => load(import('./tap/unpause.js')),
      stats: () => load(import('./tap/stats.js')),
      serve: () => load(import('./tap/serve.js')),
      snapshot: () => load(import('./tap/snapshot.js')),
      coalesce: () => load(import('./tap/coalesce.js')),
    },
  },
  job: {
    summary: 'storage jobs (live snapshot, coalesce), QMP style',
    verbs: {
      list: () => load(import('./job/list.js')),
      status: () => load(import('./job/status.js')),
      cancel: () => load(import('./job/cancel.js')),
    },
  },
  bench: {
    summary: 'benchmarks with ratios against references (no sub-verb: all, i.e. ring + data + vhd-ring)',
    default: () => load(import('./bench/all.js')),
    verbs: {
      all: () => load(import('./bench/all.js')),
      ring: () => load(import('./bench/ring.js')),
      data: () => load(import('./bench/data.js')),
      'vhd-ring': () => load(import('./bench/vhd-ring.js')),
      xenstore: () => load(import('./bench/xenstore.js')),
      tapdisk: () => load(import('./bench/tapdisk.js')),
      vhd: () => load(import('./image/bench.js')),
    },
  },
  image: {
    summary: 'VHD and raw images, qemu-img / vhd-util style',
    verbs: {
      create: () => load(import('./image/create.js')),
      info: () => load(import('./image/info.js')),
      check: () => load(import('./image/check.js')),
      map: () => load(import('./image/map.js')),
      snapshot: () => load(import('./image/snapshot.js')),
      clone: () => load(import('./image/clone.js')),
      coalesce: () => load(import('./image/coalesce.js')),
      repair: () => load(import('./image/repair.js')),
    },
  },
};
