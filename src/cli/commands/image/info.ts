import { stat } from 'node:fs/promises';
import { outputFlag, parseFlags, UsageError, type Command } from '../../command.js';
import { closeLayers, openChain } from '../../../tapdisk/drivers/vhd/chain.js';
import { layerInfo } from '../../../tapdisk/drivers/vhd/ops/info.js';
import { looksLikeVhd } from '../../../tapdisk/drivers/vhd/ops/probe.js';
import { humanBytes, writeFields, writeJson } from './output.js';

export const command: Command = {
  summary: 'show a VHD\'s footer, header and allocation (and its chain)',
  usage: `usage: splitblk image info [--output=json] [--chain] PATH

  --chain   every image of the chain, leaf first (JSON: an array)
A file that is not a VHD is shown as raw.
Exit codes: 0 ok, 1 unreadable or a broken chain, 2 bad usage.`,
  async run(argv, ctx) {
    const { values, positionals } = parseFlags(argv, { output: { type: 'string' }, chain: { type: 'boolean' } });
    if (positionals.length !== 1) throw new UsageError('expected one PATH');
    const format = outputFlag(values.output);
    const path = positionals[0]!;
    if (!(await looksLikeVhd(path))) {
      const raw = { filename: path, format: 'raw', virtualSize: (await stat(path)).size, actualSize: (await stat(path)).blocks * 512 };
      if (format === 'json') writeJson(ctx.stdout, values.chain ? [raw] : raw);
      else writeFields(ctx.stdout, { ...raw, virtualSize: humanBytes(raw.virtualSize), actualSize: humanBytes(raw.actualSize) });
      return 0;
    }
    const layers = await openChain(path, { writable: false });
    try {
      const picked = values.chain ? layers : layers.slice(0, 1);
      const infos = await Promise.all(picked.map(layerInfo));
      if (format === 'json') {
        writeJson(ctx.stdout, values.chain ? infos : infos[0]);
        return 0;
      }
      infos.forEach((info, i) => {
        if (i > 0) ctx.stdout.write('\n');
        writeFields(ctx.stdout, {
          ...info,
          virtualSize: humanBytes(info.virtualSize),
          actualSize: humanBytes(info.actualSize),
          blockSize: info.blockSize === undefined ? undefined : humanBytes(info.blockSize),
        });
      });
      return 0;
    } finally {
      await closeLayers(layers);
    }
  },
};
