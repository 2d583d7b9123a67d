import { parseFlags, UsageError, type Command } from '../../command.js';
import { coalesceVhd } from '../../../tapdisk/drivers/vhd/ops/coalesce.js';

export const command: Command = {
  summary: 'merge a differencing VHD into its parent (offline)',
  usage: `usage: splitblk image coalesce [-p] PATH

Copies every sector PATH holds into its parent, so the parent reads as PATH did. PATH itself is
unchanged (and may then be removed, its children re-created on the parent). Other children of
the parent see the merged data. Offline: nothing in the chain may be attached.
  -p   progress bar on stderr
Exit codes: 0 merged, 1 failed, 2 bad usage.`,
  async run(argv, ctx) {
    const { values, positionals } = parseFlags(argv, { p: { type: 'boolean', short: 'p' } });
    if (positionals.length !== 1) throw new UsageError('expected PATH');
    // The progress bar's module loads only with -p: this verb's start-up is part of its time.
    const bar = values.p ? (await import('./output.js')).progressBar(ctx.stderr, 'coalescing') : undefined;
    const r = await coalesceVhd(positionals[0]!, bar?.update);
    bar?.done();
    ctx.stdout.write(`${r.child}: ${r.sectors * 512} bytes merged into ${r.parent}\n`);
    return 0;
  },
};
