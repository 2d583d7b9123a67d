import test from 'ava';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { need, oracleAvailable, SPLITBLK_BIN } from './helpers.js';

// A smoke run of `splitblk bench xenstore` (tiny counts; the numbers themselves are not checked).
const run = promisify(execFile);

test('splitblk bench xenstore prints every metric as JSON', async (t) => {
  const { stdout } = await run(process.execPath, [SPLITBLK_BIN, 'bench', 'xenstore', '--ops', '50', '--watch-samples', '5', '--children', '5', '--no-oracle', '--output', 'json'], { timeout: 30_000 });
  const result = JSON.parse(stdout) as { sim: Record<string, number>; c: unknown; 'c-unavailable': string };
  t.deepEqual(Object.keys(result.sim).sort(), [
    'directory-ops-per-sec', 'read-ops-per-sec', 'watch-events-per-sec', 'watch-latency-us-p50', 'watch-latency-us-p99', 'write-ops-per-sec',
  ]);
  for (const v of Object.values(result.sim)) t.true(Number.isFinite(v) && v >= 0);
  t.is(result.c, null);
  t.is(result['c-unavailable'], '--no-oracle');
});

test('splitblk bench xenstore measures the sim and the C xenstored in the same run', async (t) => {
  if (!need(t, oracleAvailable(), 'the xenstore oracle (xen-utils-4.17, gcc) is not installed')) return;
  const { stdout } = await run(process.execPath, [SPLITBLK_BIN, 'bench', 'xenstore', '--ops', '50', '--watch-samples', '5', '--children', '5', '--rounds', '2', '--output', 'json'], { timeout: 60_000 });
  const result = JSON.parse(stdout) as { sim: Record<string, number>; c: Record<string, number> | null; 'c-unavailable': string | null; ratio: Record<string, number> | null };
  t.is(result['c-unavailable'], null);
  t.deepEqual(Object.keys(result.c ?? {}).sort(), Object.keys(result.sim).sort());
  for (const v of Object.values(result.ratio ?? {})) t.true(Number.isFinite(v) && v > 0);
});
