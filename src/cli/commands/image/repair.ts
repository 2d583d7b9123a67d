import { parseFlags, UsageError, type Command } from '../../command.js';
import { repairVhd } from '../../../tapdisk/drivers/vhd/ops/repair.js';

export const command: Command = {
  summary: 'repair a VHD: restore the footer, drop bad BAT entries, rebuild the batmap',
  usage: `usage: splitblk image repair PATH

Restores a missing trailing footer from the copy at offset 0 (or the copy from the trailing
one), drops BAT entries that point outside the file or overlap, rebuilds tapdisk's batmap from
the block bitmaps, and trims bytes past the last block. Offline.
Exit codes: 0 repaired or nothing to do, 1 failed, 2 bad usage.`,
  async run(argv, ctx) {
    const { positionals } = parseFlags(argv, {});
    if (positionals.length !== 1) throw new UsageError('expected PATH');
    const r = await repairVhd(positionals[0]!);
    if (r.actions.length === 0) ctx.stdout.write('nothing to repair\n');
    for (const a of r.actions) ctx.stdout.write(`${a}\n`);
    return 0;
  },
};
