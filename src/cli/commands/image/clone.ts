import { parseFlags, UsageError, type Command } from '../../command.js';
import { createVhd } from '../../../tapdisk/drivers/vhd/create.js';
import { looksLikeVhd } from '../../../tapdisk/drivers/vhd/ops/probe.js';

export const command: Command = {
  summary: 'a new differencing child sharing PARENT (clones share their parent)',
  usage: `usage: splitblk image clone PARENT NEWCHILD

PARENT must stay unchanged while children use it (make several clones of one parent).
Exit codes: 0 created, 1 failed, 2 bad usage.`,
  async run(argv, ctx) {
    const { positionals } = parseFlags(argv, {});
    if (positionals.length !== 2) throw new UsageError('expected PARENT NEWCHILD');
    const [parent, child] = positionals as [string, string];
    const made = await createVhd({ path: child, type: 'differencing', parent, parentRaw: !(await looksLikeVhd(parent)) });
    ctx.stdout.write(`${child}: clone of ${parent} (${made.size} bytes)\n`);
    return 0;
  },
};
