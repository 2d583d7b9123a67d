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
}

const load = (p: Promise<{ command: Command }>): Promise<Command> => p.then((m) => m.command);

export const commands: Record<string, Loader | Group> = {
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
};
