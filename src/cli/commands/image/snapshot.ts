import { parseFlags, UsageError, type Command } from '../../command.js';
import { createVhd } from '../../../tapdisk/drivers/vhd/create.js';
import { looksLikeVhd } from '../../../tapdisk/drivers/vhd/ops/probe.js';

export const command: Command = {
  summary: 'offline snapshot: a new empty differencing leaf on PATH',
  usage: `usage: splitblk image snapshot PATH NEWLEAF

PATH becomes read-only history: write to NEWLEAF from now on (PATH must not be written again,
or NEWLEAF's view changes). Offline: PATH must not be attached.
Exit codes: 0 created, 1 failed, 2 bad usage.`,
  async run(argv, ctx) {
    const { positionals } = parseFlags(argv, {});
    if (positionals.length !== 2) throw new UsageError('expected PATH NEWLEAF');
    const [path, leaf] = positionals as [string, string];
    const made = await createVhd({ path: leaf, type: 'differencing', parent: path, parentRaw: !(await looksLikeVhd(path)) });
    ctx.stdout.write(`${leaf}: snapshot leaf of ${path} (${made.size} bytes)\n`);
    return 0;
  },
};
