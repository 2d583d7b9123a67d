/**
 * The TypeScript ring against ring.h's macros: the same operation sequences run on both (the C
 * side is test/ring/ring_script.c, compiled here with gcc against /usr/include/xen/io/ring.h and
 * DEFINE_RING_TYPES(blkif, ...) from <xen/io/blkif.h>); the printed notify decisions, counts,
 * hashes of the consumed slots and the hex of the whole ring, req_event and rsp_event included,
 * must be identical.
 */
import test, { type ExecutionContext } from 'ava';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { available } from '../helpers/ci.js';
import { gcc, gccMissing } from '../helpers/gcc.js';
import { repoRoot } from '../helpers/repo.js';
import { tempDir } from '../helpers/temp.js';
import { ringSlotsForOrder } from '../../src/ring/sring.js';
import { BLKIF_X86_64, randomScript, runScript } from './script.js';

const RING_H = '/usr/include/xen/io/ring.h';

function runC(binary: string, script: string): string {
  const r = spawnSync(binary, [], { input: script, encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`ring_script exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

function compile(t: ExecutionContext): string {
  const dir = tempDir(t, 'splitblk-ring-');
  const binary = join(dir, 'ring_script');
  gcc(['-O2', '-std=gnu11', '-o', binary, join(repoRoot(), 'test/ring/ring_script.c')]);
  return binary;
}

/** Compare line by line so a mismatch names the first differing operation. */
function sameOutput(t: ExecutionContext, ts: string, c: string, label: string): void {
  const a = ts.split('\n');
  const b = c.split('\n');
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if (a[i] !== b[i]) {
      t.fail(`${label}: line ${i + 1} differs:\n  ts: ${a[i]?.slice(0, 200)}\n  c:  ${b[i]?.slice(0, 200)}`);
      return;
    }
  }
  t.pass();
}

const scripted = (start: number) => `
init 1 ${start}
free
req 5
push
unc-req
cons 2
fcreq
cons 3
fcreq
push
rsp 4
pushrsp
rsp 1
pushrsp
rcons 5
fcrsp
pushrsp
dump
req 32
free
push
cons 32
rsp 32
pushrsp
unc-rsp
rcons 20
fcrsp
rcons 12
fcrsp
fcreq
req 7
push
dump
cons 7
rsp 7
pushrsp
rcons 7
fcrsp
dump
`;

test('a scripted sequence matches ring.h from 0, across 2^32, and at 0xFFFFFFF0', (t) => {
  if (!available(t, gccMissing([RING_H]))) return;
  const binary = compile(t);
  for (const start of [0, 0xfffffff0, 0xffffffff, 0x7ffffff8]) {
    const script = scripted(start);
    const c = runC(binary, script);
    t.true(c.includes('dump '), 'the C program dumped the ring');
    sameOutput(t, runScript(script), c, `start ${start.toString(16)}`);
  }
});

test('random sequences match ring.h for ring orders 0..4, near 2^32', (t) => {
  if (!available(t, gccMissing([RING_H]))) return;
  const binary = compile(t);
  const seed = Number(process.env['SPLITBLK_RING_SEED'] ?? Date.now() % 1_000_000);
  t.log(`seed ${seed} (set SPLITBLK_RING_SEED to replay)`);
  for (let order = 0; order <= 4; order++) {
    for (const start of [0xfffffff0, 0xffffff00 - order * 37]) {
      const script = randomScript(seed + order * 1000 + (start & 0xff), 1 << order, start, 300, ringSlotsForOrder(BLKIF_X86_64, order));
      sameOutput(t, runScript(script), runC(binary, script), `order ${order} start ${start.toString(16)} seed ${seed}`);
    }
  }
});
