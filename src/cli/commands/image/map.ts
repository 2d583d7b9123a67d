import { outputFlag, parseFlags, UsageError, type Command } from '../../command.js';
import { closeLayers, openChain } from '../../../tapdisk/drivers/vhd/chain.js';
import { mapChain } from '../../../tapdisk/drivers/vhd/ops/map.js';
import { writeJson } from './output.js';

export const command: Command = {
  summary: 'list where each range of a VHD chain\'s data lives (like qemu-img map)',
  usage: `usage: splitblk image map [--output=json] PATH

JSON: an array of {start, length, depth, present, zero, data, offset, filename}, bytes.
Exit codes: 0 ok, 1 failed, 2 bad usage.`,
  async run(argv, ctx) {
    const { values, positionals } = parseFlags(argv, { output: { type: 'string' } });
    if (positionals.length !== 1) throw new UsageError('expected one PATH');
    const format = outputFlag(values.output);
    const layers = await openChain(positionals[0]!, { writable: false });
    try {
      const extents = await mapChain(layers);
      if (format === 'json') {
        writeJson(ctx.stdout, extents);
        return 0;
      }
      ctx.stdout.write(`${'Offset'.padEnd(20)}${'Length'.padEnd(20)}${'Mapped to'.padEnd(20)}File\n`);
      for (const x of extents) {
        if (!x.data) continue;
        const hex = (n: number) => `0x${n.toString(16)}`;
        ctx.stdout.write(`${hex(x.start).padEnd(20)}${hex(x.length).padEnd(20)}${hex(x.offset!).padEnd(20)}${x.filename}\n`);
      }
      return 0;
    } finally {
      await closeLayers(layers);
    }
  },
};
