/**
 * The benchmark result files: valid JSON with the five required keys on every row, even when a
 * workload failed or was skipped, and a markdown row per result.
 */
import test from 'ava';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { failedRow, row, skippedRow, writeResults } from '../../src/bench/results.js';

test('results.json stays a valid array of {workload, metric, splitblk, reference, ratio} when workloads fail', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'splitblk-results-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const rows = [
    row('ring-1page-qd32', 'requests/s', 500_000, 1_000_000, 'C ring-ref', 'higher', 'req/s'),
    row('ring-qd1-latency-p50', 'latency p50', 12.5, 0, 'C ring-ref', 'lower', 'us'),
    failedRow('raw-64k-seqread', new Error('splitblk frontend exited 1: backend went Closed\nmore | detail')),
    skippedRow('vhd-coalesce', 'qemu-img is not installed (qemu-utils)'),
  ];
  const files = writeResults(dir, rows, '# results');
  const parsed = JSON.parse(readFileSync(files.json, 'utf8')) as Record<string, unknown>[];
  t.is(parsed.length, 4);
  for (const r of parsed) for (const key of ['workload', 'metric', 'splitblk', 'reference', 'ratio']) t.true(key in r, `${key} in ${JSON.stringify(r)}`);
  t.is(parsed[0]!['ratio'], 0.5);
  t.is(parsed[1]!['ratio'], null, 'a zero reference gives no ratio');
  t.is(parsed[2]!['metric'], 'error');
  t.is(parsed[2]!['splitblk'], null);
  t.regex(parsed[2]!['error'] as string, /backend went Closed/);
  const md = readFileSync(files.md, 'utf8');
  t.is(md.split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| workload') && !l.startsWith('| ---')).length, 4);
  t.regex(md, /more \\\| detail/, 'pipes in messages are escaped');
});
