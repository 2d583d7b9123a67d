import { outputFlag, parseFlags, UsageError, type Command } from '../../command.js';
import { checkVhd, type CheckVerdict } from '../../../tapdisk/drivers/vhd/ops/check.js';
import { repairVhd } from '../../../tapdisk/drivers/vhd/ops/repair.js';
import { progressBar, writeJson } from './output.js';

/** qemu-img check's exit codes. */
const EXIT_BY_VERDICT: Record<CheckVerdict, number> = { clean: 0, corrupt: 2, leaks: 3, unsupported: 63 };

export const command: Command = {
  summary: 'check a VHD\'s metadata (qemu-img check exit codes)',
  usage: `usage: splitblk image check [--output=json] [-r|--repair] [-p] PATH

  -r, --repair  run \`image repair\` first when the check finds something, then check again
  -p            progress bar on stderr
Exit codes (as qemu-img check): 0 clean, 2 corrupt, 3 leaked space only, 63 not a VHD;
1 the check itself failed (I/O error).`,
  async run(argv, ctx) {
    const { values, positionals } = parseFlags(argv, {
      output: { type: 'string' },
      repair: { type: 'boolean', short: 'r' },
      p: { type: 'boolean', short: 'p' },
    });
    if (positionals.length !== 1) throw new UsageError('expected one PATH');
    const path = positionals[0]!;
    const format = outputFlag(values.output);
    const bar = values.p ? progressBar(ctx.stderr, 'checking') : undefined;
    let report = await checkVhd(path, bar?.update);
    bar?.done();
    let repaired: string[] | undefined;
    if (values.repair && (report.verdict === 'corrupt' || report.verdict === 'leaks')) {
      repaired = (await repairVhd(path)).actions;
      report = await checkVhd(path);
    }
    if (format === 'json') {
      writeJson(ctx.stdout, {
        filename: report.filename,
        format: report.format,
        checkErrors: 0,
        corruptions: report.corruptions.length,
        leaks: report.leaks.length,
        leakedBytes: report.leakedBytes,
        totalBlocks: report.totalBlocks,
        allocatedBlocks: report.allocatedBlocks,
        imageEndOffset: report.imageEndOffset,
        corruptionMessages: report.corruptions,
        leakMessages: report.leaks,
        repairs: repaired,
      });
    } else {
      if (report.verdict === 'unsupported') ctx.stderr.write(`splitblk image check: ${path}: not a VHD; this format does not support checks\n`);
      for (const a of repaired ?? []) ctx.stdout.write(`Repaired: ${a}\n`);
      for (const c of report.corruptions) ctx.stdout.write(`ERROR: ${c}\n`);
      for (const l of report.leaks) ctx.stdout.write(`Leaked: ${l}\n`);
      if (report.verdict === 'clean') ctx.stdout.write('No errors were found on the image.\n');
      if (report.format === 'vpc') {
        ctx.stdout.write(`${report.allocatedBlocks}/${report.totalBlocks} blocks allocated\nImage end offset: ${report.imageEndOffset}\n`);
      }
    }
    return EXIT_BY_VERDICT[report.verdict];
  },
};
