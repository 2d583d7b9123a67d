import { spawn, spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

import test, { type ExecutionContext } from 'ava';

import { native } from '../../src/native/index.js';
import { available } from '../helpers/ci.js';
import { gcc, gccMissing } from '../helpers/gcc.js';
import { tempDir } from './helpers.js';

/** The C source sits in the source tree (tsc does not copy it to build/). */
const cSource = fileURLToPath(new URL('../../../test/native/fixtures/c-doorbell.c', import.meta.url));

/** Compiles the C peer, or says why it cannot (a failure under CI, a skip elsewhere). */
function compilePeer(t: ExecutionContext, dir: string): string | null {
  if (!available(t, gccMissing())) return null;
  const binary = path.join(dir, 'c-doorbell');
  gcc(['-O1', '-o', binary, cSource]);
  return binary;
}

test('a C program rings a doorbell with plain open(2) and write(2)', async (t) => {
  const { dir, cleanup } = tempDir('interop');
  t.teardown(cleanup);
  const peer = compilePeer(t, dir);
  if (peer === null) return;
  const bellPath = path.join(dir, 'bell');
  t.is(spawnSync(peer, ['ring', bellPath]).status, 2, 'nobody listens yet');
  let rang!: () => void;
  const woke = new Promise<void>((resolve) => (rang = resolve));
  const doorbell = native.doorbell.listen(bellPath, () => rang());
  t.teardown(() => doorbell.close({ unlink: true }));
  t.is(spawnSync(peer, ['ring', bellPath]).status, 0);
  await woke;
});

test('a C program listens on a doorbell with poll(2) and we ring it', async (t) => {
  const { dir, cleanup } = tempDir('interop');
  t.teardown(cleanup);
  const peer = compilePeer(t, dir);
  if (peer === null) return;
  const bellPath = path.join(dir, 'bell');
  const child = spawn(peer, ['listen', bellPath], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => child.kill('SIGKILL'));
  let out = '';
  const ready = new Promise<void>((resolve) =>
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      if (out.includes('ready')) resolve();
    }),
  );
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  await ready;
  const bell = native.doorbell.connect(bellPath);
  t.true(bell.ring());
  bell.close();
  t.is(await exited, 0);
  t.regex(out, /rang 1/);
});
