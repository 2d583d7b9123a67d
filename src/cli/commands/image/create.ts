import { open } from 'node:fs/promises';
import { parseFlags, sizeFlag, UsageError, type Command } from '../../command.js';
import { createVhd } from '../../../tapdisk/drivers/vhd/create.js';
import { looksLikeVhd } from '../../../tapdisk/drivers/vhd/ops/probe.js';

export const command: Command = {
  summary: 'create an image (VHD fixed, dynamic or differencing; or raw)',
  usage: `usage: splitblk image create [-f vhd|raw] [--type dynamic|fixed] [-b PARENT [-F vhd|raw]] [--block-size SIZE] PATH [SIZE]

  -f FORMAT         vhd (default) or raw (a sparse file)
  --type TYPE       dynamic (default) or fixed, for a VHD without a parent
  -b PARENT         make a differencing VHD on PARENT (SIZE defaults to the parent's)
  -F FORMAT         the parent's format: vhd or raw (default: detected)
  --block-size SIZE power of two, default 2M
Exit codes: 0 created, 1 failed, 2 bad usage.`,
  async run(argv, ctx) {
    const { values, positionals } = parseFlags(argv, {
      f: { type: 'string', short: 'f' },
      type: { type: 'string' },
      b: { type: 'string', short: 'b' },
      F: { type: 'string', short: 'F' },
      'block-size': { type: 'string' },
    });
    const [path, sizeArg] = positionals;
    if (path === undefined || positionals.length > 2) throw new UsageError('expected PATH [SIZE]');
    const format = values.f ?? 'vhd';
    if (format !== 'vhd' && format !== 'vpc' && format !== 'raw') throw new UsageError(`-f: unknown format ${format}`);
    const size = sizeArg === undefined ? undefined : sizeFlag('size', sizeArg, 0);
    if (format === 'raw') {
      if (size === undefined || values.b !== undefined) throw new UsageError('a raw image needs a SIZE and no parent');
      const fh = await open(path, 'wx');
      await fh.truncate(size);
      await fh.close();
      ctx.stdout.write(`Formatting '${path}', fmt=raw size=${size}\n`);
      return 0;
    }
    const blockSize = sizeFlag('block-size', values['block-size'], 2 * 1024 * 1024);
    if (values.b !== undefined) {
      const parentRaw = values.F !== undefined ? values.F === 'raw' : !(await looksLikeVhd(values.b));
      const made = await createVhd({ path, type: 'differencing', parent: values.b, parentRaw, blockSize, ...(size !== undefined ? { size } : {}) });
      ctx.stdout.write(`Formatting '${path}', fmt=vhd type=differencing size=${made.size} backing_file=${values.b}\n`);
      return 0;
    }
    const type = values.type ?? 'dynamic';
    if (type !== 'dynamic' && type !== 'fixed') throw new UsageError(`--type: expected dynamic or fixed, got ${type}`);
    if (size === undefined) throw new UsageError('SIZE is needed without a parent');
    const made = await createVhd({ path, type, size, blockSize });
    ctx.stdout.write(`Formatting '${path}', fmt=vhd type=${type} size=${made.size}\n`);
    return 0;
  },
};
