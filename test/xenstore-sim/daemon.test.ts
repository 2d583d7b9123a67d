import test from 'ava';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { XsType as T } from '../../src/xenstore-sim/wire/messages.js';
import { shortTempDir } from './helpers/daemons.js';
import { RawClient, strings } from './helpers/raw-client.js';

const SPLITBLK = fileURLToPath(new URL('../../../bin/splitblk.js', import.meta.url));

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function start(args: string[]) {
  const child = spawn(process.execPath, [SPLITBLK, 'xenstored', ...args]);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => { stdout += d; });
  child.stderr.on('data', (d) => { stderr += d; });
  const done = new Promise<Run>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal, stdout, stderr })));
  return { child, done };
}

async function waitFor(path: string): Promise<void> {
  for (let i = 0; i < 500 && !existsSync(path); i++) await new Promise((r) => setTimeout(r, 10));
}

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  test(`${signal} exits 0, silently, and removes the socket`, async (t) => {
    const dir = shortTempDir('xsd.');
    const socket = `${dir}/socket`;
    // A stale socket file from a crashed run is replaced.
    writeFileSync(socket, '');
    const { child, done } = start(['--socket', socket]);
    try {
      const c = await connectWhenReady(socket);
      t.is((await c.request(T.Write, Buffer.from('/x\0y'))).reply?.payload.toString(), 'OK\0');
      c.close();
      child.kill(signal);
      const run = await done;
      t.is(run.code, 0);
      t.is(run.stdout, '');
      t.is(run.stderr, '');
      t.false(existsSync(socket));
    } finally {
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

async function connectWhenReady(socket: string): Promise<RawClient> {
  for (let i = 0; ; i++) {
    try {
      return await RawClient.unix(socket);
    } catch (error) {
      if (i > 300) throw error;
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}

test('a socket path over 107 bytes is refused with a clear message', async (t) => {
  const long = `/tmp/${'d'.repeat(110)}/socket`;
  const run = await start(['--socket', long]).done;
  t.is(run.code, 1);
  t.regex(run.stderr, /at most 107/);
});

test('usage errors exit 2', async (t) => {
  t.is((await start([]).done).code, 2);
  t.is((await start(['--socket', '/tmp/x', '--quota-nodes', 'many']).done).code, 2);
  t.is((await start(['--socket', '/tmp/x', '--quota-outstanding', '-1']).done).code, 2);
  t.is((await start(['--socket', '/tmp/x', '--timeout-watch-event', '2.5']).done).code, 2);
  t.is((await start(['--socket', '/tmp/x', '--bogus']).done).code, 2);
});

test('a missing directory is a clean failure', async (t) => {
  const run = await start(['--socket', '/nonexistent-dir/xs/socket']).done;
  t.is(run.code, 1);
  t.regex(run.stderr, /cannot listen/);
});

test('quota flags and --trace take effect', async (t) => {
  const dir = shortTempDir('xsd.');
  const socket = `${dir}/socket`;
  const { child, done } = start(['--socket', socket, '--quota-path', '16', '--trace', `${dir}/trace`]);
  try {
    await waitFor(socket);
    const c = await connectWhenReady(socket);
    t.is((await c.request(T.Write, Buffer.from('/short\0v'))).reply?.payload.toString(), 'OK\0');
    t.is((await c.request(T.Write, Buffer.from('/this/path/is/too/long\0v'))).reply?.payload.toString(), 'EINVAL\0');
    t.is((await c.request(T.Read, strings('/short'))).reply?.payload.toString(), 'v');
    c.close();
    child.kill('SIGTERM');
    t.is((await done).code, 0);
    const trace = readFileSync(`${dir}/trace`, 'utf8');
    t.regex(trace, /IN {2}conn \d+ dom0 XS_WRITE/);
    t.regex(trace, /OUT conn \d+ dom0 XS_ERROR .*EINVAL/);
  } finally {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the quota flags set what XS_CONTROL quota reports', async (t) => {
  const dir = shortTempDir('xsq.');
  const socket = `${dir}/socket`;
  const { child, done } = start(['--socket', socket, '--quota-nodes', '11', '--quota-transaction-nodes', '9',
    '--quota-memory', '12345', '--quota-memory-soft', '999', '--quota-outstanding', '7']);
  try {
    const c = await connectWhenReady(socket);
    const hard = (await c.request(T.Control, strings('quota'))).reply?.payload.toString('latin1') ?? '';
    const soft = (await c.request(T.Control, strings('quota-soft'))).reply?.payload.toString('latin1') ?? '';
    c.close();
    t.regex(hard, /^nodes {12}: {7}11 Nodes per domain$/m);
    t.regex(hard, /^transaction-nodes: {8}9 /m);
    t.regex(hard, /^memory {11}: {4}12345 /m);
    t.regex(hard, /^outstanding {6}: {8}7 /m);
    t.regex(soft, /^memory {11}: {6}999 Total Xenstore memory per domain \(warning level\)$/m);
    child.kill('SIGTERM');
    t.is((await done).code, 0);
  } finally {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the start-up warm-up serves a throwaway socket and leaves nothing behind', async (t) => {
  const dir = shortTempDir('xsw.');
  const socket = `${dir}/socket`;
  const warmDir = `${dir}/tmp`;
  mkdirSync(warmDir);
  const child = spawn(process.execPath, [SPLITBLK, 'xenstored', '--socket', socket, '--warm-up-ms', '300'], { env: { ...process.env, TMPDIR: warmDir } });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  const done = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    const c = await connectWhenReady(socket);
    // Nothing of the warm-up is visible: its tree, its socket and its directory are gone.
    t.is((await c.request(T.Read, strings('/warm-up/w'))).reply?.payload.toString(), 'ENOENT\0');
    c.close();
    t.deepEqual(readdirSync(warmDir), []);
    child.kill('SIGTERM');
    t.is(await done, 0);
    t.is(stderr, '');
  } finally {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});
