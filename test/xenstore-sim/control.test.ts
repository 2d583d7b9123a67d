import test from 'ava';
import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { XsType as T } from '../../src/xenstore-sim/wire/messages.js';
import { tempDir } from '../helpers/temp.js';
import { oracleAvailable, startOracle, startSim, type Daemon } from './helpers/daemons.js';
import { transcript, type Step } from './helpers/differ.js';
import { RawClient, strings } from './helpers/raw-client.js';
import { C_XENSTORED, haveTools, ORACLE_SCRIPT, onPath } from './helpers/tools.js';

/*
 * XS_CONTROL against the real C xenstored 4.17: every command's argument rules and replies,
 * the quota settings and per-domain usage reports (C's memory accounting of nodes, watches and
 * transactions), and "quota set". Both daemons run without a trace file.
 */

let sim: Daemon | undefined;
let oracle: Daemon | undefined;

test.before(async () => {
  if (!oracleAvailable() || !existsSync(onPath('gcc'))) return;
  [sim, oracle] = await Promise.all([startSim(), startOracle(['-T', ''])]);
});

test.after.always(async () => {
  await Promise.all([sim?.stop(), oracle?.stop()]);
});

const ctl = (...args: string[]): Step => ({ c: 'a', op: T.Control, args });
const s = (op: number, ...args: string[]): Step => ({ c: 'a', op, args });
const w = (path: string, value: string, tx?: string): Step => ({ c: 'a', op: T.Write, raw: Buffer.from(`${path}\0${value}`, 'latin1'), ...(tx === undefined ? {} : { tx }) });

test.serial('every control command answers as in C xenstored', async (t) => {
  if (!haveTools(t, ORACLE_SCRIPT, C_XENSTORED, onPath('gcc'))) return;
  const dir = tempDir(t, 'xs-ctl-');
  const plain = join(dir, 'not-executable');
  writeFileSync(plain, 'x');
  chmodSync(plain, 0o644);
  const steps = (report: string): Step[] => [
    ctl('help'), ctl('help', 'x'),
    ctl('check'), ctl('check', 'x'),
    ctl('log'), ctl('log', 'on'), ctl('log', 'off'), ctl('log', 'x'),
    ctl('logfile'),
    ctl('print', 'hello'), ctl('print'), ctl('print', 'a', 'b'),
    ctl('memreport', report), ctl('memreport', join(dir, 'no', 'such', 'dir')), ctl('memreport', 'a', 'b'),
    ctl('quota'), ctl('quota', '0'), ctl('quota', '0x0'), ctl('quota', 'x'), ctl('quota', '1'), ctl('quota', '-1'),
    ctl('quota', '1', '2'), ctl('quota', 'x', 'y', 'z'), ctl('quota', 'set'), ctl('quota', 'set', 'nodes'),
    ctl('quota', 'set', 'nodes', 'x'), ctl('quota', 'set', 'nodes', '-3'), ctl('quota', 'set', 'foo', '1'),
    ctl('quota', 'set', 'nodes', '5'), ctl('quota', 'set', 'memory', '4096'), ctl('quota', 'set', 'outstanding', '3'),
    ctl('quota', 'set', 'outstanding', '0'), ctl('quota', 'set', 'outstanding', '0x10'), ctl('quota', 'set', 'outstanding', ' +7x'),
    ctl('quota', 'set', 'outstanding', '2147483648'), ctl('quota-soft', 'set', 'memory', '-0'),
    ctl('quota', 'set', 'transaction-nodes', '7'), ctl('quota'),
    ctl('quota-soft'), ctl('quota-soft', 'x'), ctl('quota-soft', 'set', 'nodes', '1'), ctl('quota-soft', 'set', 'memory', '100'),
    ctl('quota-soft'),
    // Back to C's defaults: the next test runs on the same daemons.
    ctl('quota', 'set', 'nodes', '1000'), ctl('quota', 'set', 'memory', '2621440'), ctl('quota', 'set', 'outstanding', '20'),
    ctl('quota', 'set', 'transaction-nodes', '1024'), ctl('quota-soft', 'set', 'memory', '2097152'),
    ctl('live-update'), ctl('live-update', '-q'), ctl('live-update', '-a'), ctl('live-update', '-a', 'x'),
    ctl('live-update', '-c', '/x'), ctl('live-update', '-c'), ctl('live-update', '-s'), ctl('live-update', '-s', '-F', '-t', '5'),
    ctl('live-update', '-s', '-t'), ctl('live-update', '-s', 'x'), ctl('live-update', '-f', join(dir, 'absent')),
    ctl('live-update', '-f', plain), ctl('live-update', '-f', 'x', 'y'),
    ctl('nosuchcmd'), { c: 'a', op: T.Control, raw: Buffer.alloc(0) }, ctl(''),
  ];
  const report = join(dir, 'report');
  const ours = await transcript(sim!.socket, steps(report));
  const ourReport = statSync(report).size;
  const theirs = await transcript(oracle!.socket, steps(report));
  t.deepEqual(ours, theirs);
  // The reports themselves differ (C's is a talloc dump); both were appended.
  t.true(ourReport > 0 && statSync(report).size > ourReport);
});

test.serial('quota <domid> accounts nodes, watches and transactions as C does', async (t) => {
  if (!haveTools(t, ORACLE_SCRIPT, C_XENSTORED, onPath('gcc'))) return;
  const q = ctl('quota', '0');
  const steps: Step[] = [
    q,
    w('/acct', ''), q,
    w('/acct', 'xyz'), q,
    w('/acct/bb', 'v'), q,
    s(T.Watch, '/acct', 'tok'), q,
    s(T.Watch, 'rel/path', 't'), q,
    { c: 'a', op: T.TransactionStart, args: [''], as: 'X' }, q,
    { c: 'a', op: T.Read, args: ['/acct'], tx: 'X' }, q,
    { c: 'a', op: T.Read, args: ['/acct/absent'], tx: 'X' }, q,
    w('/acct', 'qq', 'X'), q,
    w('/acct/new', 'n', 'X'), q,
    { c: 'a', op: T.TransactionEnd, args: ['T'], tx: 'X' }, q,
    { c: 'a', op: T.TransactionStart, args: [''], as: 'Y' },
    { c: 'a', op: T.Read, args: ['/acct'], tx: 'Y' },
    { c: 'a', op: T.TransactionEnd, args: ['F'], tx: 'Y' }, q,
    s(T.SetPerms, '/acct/bb', 'n0', 'r1', 'r2'), q,
    s(T.Unwatch, '/acct', 'tok'), q,
    s(T.Rm, '/acct'), q,
  ];
  const ours = await transcript(sim!.socket, steps);
  const theirs = await transcript(oracle!.socket, steps);
  t.deepEqual(ours, theirs);
});

test.serial('logfile starts a trace, log off and on stop and resume it', async (t) => {
  if (!haveTools(t, ORACLE_SCRIPT, C_XENSTORED, onPath('gcc'))) return;
  const file = join(tempDir(t, 'xs-log-'), 'trace.log');
  const client = await RawClient.unix(sim!.socket);
  t.teardown(() => client.close());
  const size = () => (existsSync(file) ? statSync(file).size : 0);
  t.is((await client.request(T.Control, strings('logfile', file))).reply?.type, T.Control);
  await client.request(T.Read, strings('/tool'));
  t.true(size() > 0);
  await client.request(T.Control, strings('log', 'off'));
  const traced = size();
  await client.request(T.Read, strings('/tool'));
  t.is(size(), traced);
  await client.request(T.Control, strings('log', 'on'));
  await client.request(T.Control, strings('print', 'marker-line'));
  t.regex(readFileSync(file, 'utf8'), /control: marker-line/);
  await client.request(T.Control, strings('log', 'off'));
});
