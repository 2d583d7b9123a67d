import test from 'ava';
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { oracleAvailable, startOracle, startSim, type Daemon } from './helpers/daemons.js';
import { C_XENSTORED, haveTools, onPath, ORACLE_SCRIPT, TEST_XENSTORE } from './helpers/tools.js';

/*
 * The real Debian xenstore-utils and Xen's own test-xenstore against our daemon, and the
 * same tool sessions against the real C xenstored, outputs compared.
 */
const run = promisify(execFile);
const TOOLS = ['xenstore-write', 'xenstore-read', 'xenstore-ls', 'xenstore-rm', 'xenstore-chmod', 'xenstore-list', 'xenstore-exists', 'xenstore-watch'].map(onPath);

let sim: Daemon | undefined;
let oracle: Daemon | undefined;

test.before(async () => {
  const jobs: Promise<void>[] = [];
  if (TOOLS.every((p) => existsSync(p))) jobs.push(startSim().then((d) => { sim = d; }));
  if (oracleAvailable() && existsSync(onPath('gcc'))) jobs.push(startOracle().then((d) => { oracle = d; }));
  await Promise.all(jobs);
});

test.after.always(async () => {
  await Promise.all([sim?.stop(), oracle?.stop()]);
});

/** Run one tool; returns "rc stdout stderr" so failures compare too. */
async function tool(env: NodeJS.ProcessEnv, name: string, ...args: string[]): Promise<string> {
  try {
    const { stdout, stderr } = await run(onPath(name), args, { env: { ...process.env, ...env }, timeout: 10000 });
    return `0 ${stdout}${stderr}`;
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return `${e.code} ${e.stdout ?? ''}${e.stderr ?? ''}`;
  }
}

/** A session of tool calls; every output is recorded. */
async function session(socket: string): Promise<string[]> {
  const env = { XENSTORED_PATH: socket };
  const out: string[] = [];
  const t = async (name: string, ...args: string[]) => out.push(`${name} ${args.join(' ')} => ${await tool(env, name, ...args)}`);
  await t('xenstore-write', '/s/a', 'hello world', '/s/b/c', 'x', '/s/empty', '');
  await t('xenstore-read', '/s/a', '/s/b/c');
  await t('xenstore-read', '/s/missing');
  await t('xenstore-exists', '/s/a');
  await t('xenstore-exists', '/s/missing');
  await t('xenstore-list', '/s');
  await t('xenstore-list', '/s/missing');
  await t('xenstore-chmod', '/s/a', 'n0', 'r5', 'b6');
  await t('xenstore-chmod', '-r', '/s/b', 'r0', 'w3');
  await t('xenstore-chmod', '/s/a', 'q0');
  await t('xenstore-ls', '-fp', '/s');
  await t('xenstore-ls', '/s');
  await t('xenstore-ls', '-fp', '/');
  await t('xenstore-write', 'relative/key', 'r');
  await t('xenstore-read', 'relative/key');
  await t('xenstore-rm', '/s/b');
  await t('xenstore-rm', '/s/b/c/d');
  await t('xenstore-rm', '-t', '/s');
  await t('xenstore-ls', '-fp', '/');
  // Enough children for XS_DIRECTORY to exceed 4096 bytes, so the tool pages with DIRECTORY_PART.
  for (let i = 0; i < 150; i++) await tool(env, 'xenstore-write', `/many/node-with-a-long-name-${i}`, `${i}`).then(() => undefined);
  await t('xenstore-list', '/many').then(() => {
    // Directory order is not part of the contract: compare sorted.
    const last = out.pop()!;
    const [head, body] = last.split(' => ');
    out.push(`${head} => ${body!.split('\n').sort().join('\n')}`);
  });
  return out;
}

/** xenstore-watch -n N: the first events, while another tool changes the tree. */
async function watchSession(socket: string): Promise<string> {
  const env = { ...process.env, XENSTORED_PATH: socket };
  await tool({ XENSTORED_PATH: socket }, 'xenstore-write', '/wt/a', '1');
  const child = spawn(onPath('xenstore-watch'), ['-n', '4', '/wt'], { env });
  let stdout = '';
  child.stdout.on('data', (d) => { stdout += d; });
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  // The first line is the registration event: wait for it before changing anything.
  while (!stdout.includes('\n')) await new Promise((r) => setTimeout(r, 10));
  await tool({ XENSTORED_PATH: socket }, 'xenstore-write', '/wt/a', '2');
  await tool({ XENSTORED_PATH: socket }, 'xenstore-write', '/wt/b/c', '3');
  await tool({ XENSTORED_PATH: socket }, 'xenstore-rm', '/wt/b');
  const code = await exited;
  return `${code} ${stdout}`;
}

test.serial('xenstore-utils: our daemon answers exactly as C xenstored', async (t) => {
  if (!haveTools(t, ...TOOLS, ORACLE_SCRIPT, C_XENSTORED, onPath('gcc'))) return;
  const [ours, theirs] = await Promise.all([session(sim!.socket), session(oracle!.socket)]);
  t.deepEqual(ours, theirs);
  t.true(ours.some((l) => l.startsWith('xenstore-read /s/a /s/b/c => 0 hello world\nx')));
});

test.serial('xenstore-watch: same events from both daemons', async (t) => {
  if (!haveTools(t, ...TOOLS, ORACLE_SCRIPT, C_XENSTORED, onPath('gcc'))) return;
  const [ours, theirs] = await Promise.all([watchSession(sim!.socket), watchSession(oracle!.socket)]);
  t.is(ours, theirs);
  t.is(ours, '0 /wt\n/wt/a\n/wt/b/c\n/wt/b\n');
});

test.serial('XENSTORED_RUNDIR=<dir> finds <dir>/socket', async (t) => {
  if (!haveTools(t, ...TOOLS)) return;
  const clean = { ...process.env };
  delete clean.XENSTORED_PATH;
  const { stdout } = await run(onPath('xenstore-write'), ['/rundir/ok', 'yes'], { env: { ...clean, XENSTORED_RUNDIR: sim!.dir } });
  t.is(stdout, '');
  const read = await run(onPath('xenstore-read'), ['/rundir/ok'], { env: { ...clean, XENSTORED_RUNDIR: sim!.dir } });
  t.is(read.stdout, 'yes\n');
});

test.serial('Xen\'s own test-xenstore passes against our daemon', async (t) => {
  if (!haveTools(t, TEST_XENSTORE)) return;
  const { stdout } = await run(TEST_XENSTORE, [], { env: { ...process.env, XENSTORED_PATH: sim!.socket }, timeout: 30000 });
  // One timing line per case; the tool exits non-zero on the first failure.
  const cases = stdout.trim().split('\n');
  t.is(cases.length, 12, stdout);
  t.true(cases.every((l) => / ns$/.test(l)), stdout);
});
