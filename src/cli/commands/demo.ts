import type { Command } from '../command.js';

export const command: Command = {
  summary: 'run the end-to-end demo (xenstored, backend and a guest as separate processes)',
  usage: 'usage: splitblk demo [--image PATH] [--size SIZE] [--duration SECONDS]',
  async run(_argv, ctx) {
    ctx.stderr.write('splitblk demo: being built\n');
    return 1;
  },
};
