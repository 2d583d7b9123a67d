import { EXIT_OK, outputFlag, parseFlags, type Command } from '../../command.js';
import type { Family } from '../../../bench/context.js';
import { runBench } from '../../../bench/run.js';

/**
 * A `splitblk bench` verb running some workload families: progress on stderr, the markdown table
 * (or, with --output=json, the rows) on stdout, bench/results.{json,md} written. Benchmarks print
 * ratios and never pass or fail: the exit code is 0 even when a workload failed (its row says so).
 */
export function benchVerb(name: string, summary: string, families: readonly Family[]): Command {
  const usage = `usage: splitblk bench${name === '' ? '' : ` ${name}`} [--quick] [--output json|human] [--out-dir DIR]

${summary}.
Families: ${families.map((f) => `${f.name} (${f.summary})`).join('; ')}.
Every figure is shown beside its reference measured in the same run, with ratio = splitblk ÷
reference (docs/benchmarks.md says how to read them). Results go to bench/results.json (an array
of {"workload", "metric", "splitblk", "reference", "ratio", ...}) and bench/results.md.
  --quick          about a minute in total (1 s per measurement) instead of 5 s per measurement
  --out-dir DIR    write results.json and results.md there instead of bench/
Exit codes: 0 ran (failed workloads are rows with metric "error"); 2 bad usage.`;
  return {
    summary,
    usage,
    async run(argv, ctx) {
      const { values } = parseFlags(argv, { quick: { type: 'boolean' }, output: { type: 'string' }, 'out-dir': { type: 'string' } }, false);
      const format = outputFlag(values.output);
      const result = await runBench({
        families,
        quick: values.quick === true,
        selfArgv: ctx.selfArgv,
        env: ctx.env,
        progress: ctx.stderr as never,
        outDir: values['out-dir'],
      });
      ctx.stdout.write(format === 'json' ? JSON.stringify(result.rows, null, 2) + '\n' : result.table);
      ctx.stderr.write(`bench: wrote ${result.files.json} and ${result.files.md}\n`);
      return EXIT_OK;
    },
  };
}
