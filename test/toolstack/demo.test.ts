/**
 * `splitblk demo` (what `npm start` runs): separate processes, verified I/O, and nothing left
 * behind afterwards: no process of its run directory, no run directory, no temporary image.
 */
import test from 'ava';
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { needNative, processesOf, splitblk } from './cli.js';

test('demo verifies its I/O and leaves no process, shared memory or temporary file behind', async (t) => {
  if (!needNative(t)) return;
  const r = await splitblk(['demo', '--duration', '1', '--size', '16M']);
  t.is(r.code, 0, r.stderr);
  const [, rundir, image] = /^splitblk demo: run directory (\S+), image (\S+) \(16777216 bytes\)$/m.exec(r.stdout) ?? [];
  t.truthy(rundir, r.stdout);
  t.regex(r.stdout, /^processes: xenstored pid \d+, backend pid \d+, demo \(toolstack\) pid \d+$/m);
  t.regex(r.stdout, /^xenbus: backend {2}InitWait -> Connected$/m);
  t.regex(r.stdout, /^xenbus: frontend Initialised -> Connected$/m);
  t.regex(r.stdout, /^guest: verified \d+ sectors read back: the pattern matches$/m);
  t.regex(r.stdout, /^guest: \d+ I\/Os in [\d.]+ s: \d+ IOPS, [\d.]+ MB\/s/m);
  t.regex(r.stdout, /demo: all processes stopped, run directory and temporary files removed\n$/);
  t.deepEqual(processesOf(rundir!), []);
  t.false(existsSync(rundir!));
  t.false(existsSync(dirname(image!)));
});
