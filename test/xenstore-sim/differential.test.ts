import test from 'ava';
import { existsSync } from 'node:fs';
import { XsType as T } from '../../src/xenstore-sim/wire/messages.js';
import { oracleAvailable, startOracle, startSim, type Daemon } from './helpers/daemons.js';
import { transcript, type Step } from './helpers/differ.js';
import { C_XENSTORED, haveTools, ORACLE_SCRIPT, onPath } from './helpers/tools.js';

/*
 * The same scripted raw requests against our daemon and the real C xenstored 4.17 (through
 * the oracle script), over their unix sockets: replies and watch events must match, with
 * transaction ids made symbolic. Both daemons run the scripts in the same order, so even the
 * generation counts in DIRECTORY_PART replies must agree.
 */

let sim: Daemon | undefined;
let oracle: Daemon | undefined;

test.before(async () => {
  if (!oracleAvailable() || !existsSync(onPath('gcc'))) return;
  [sim, oracle] = await Promise.all([startSim(), startOracle()]);
});

test.after.always(async () => {
  await Promise.all([sim?.stop(), oracle?.stop()]);
});

const w = (c: 'a' | 'b', path: string, value: string, tx?: string): Step => ({ c, op: T.Write, raw: Buffer.from(`${path}\0${value}`, 'latin1'), ...(tx === undefined ? {} : { tx }) });
const s = (c: 'a' | 'b', op: number, ...args: string[]): Step => ({ c, op, args });
const st = (c: 'a' | 'b', op: number, tx: string, ...args: string[]): Step => ({ c, op, args, tx });

const scripts: Record<string, Step[]> = {
  'basic nodes, values with NULs, directories, perms': [
    w('a', '/d1/x/y', 'hello'),
    w('a', '/d1/bin', 'a\0b\0'),
    s('a', T.Read, '/d1/bin'),
    s('a', T.Read, '/d1/x'),
    s('a', T.Directory, '/d1'),
    s('a', T.Directory, '/d1/x/y'),
    s('a', T.DirectoryPart, '/d1', '0'),
    s('a', T.DirectoryPart, '/d1', '2'),
    s('a', T.DirectoryPart, '/d1', '99'),
    s('a', T.GetPerms, '/d1/x'),
    s('a', T.Mkdir, '/d1/x'),
    s('a', T.Mkdir, '/d1/m/n'),
    s('a', T.Read, '/d1/nope'),
    s('a', T.Rm, '/d1/nope'),
    s('a', T.Rm, '/d1/nope/deeper'),
    s('a', T.Rm, '/'),
    s('a', T.SetPerms, '/d1/x', 'n5', 'r6', 'b7', 'w8'),
    s('a', T.GetPerms, '/d1/x'),
    s('a', T.GetPerms, '/d1/x/y'),
    s('a', T.SetPerms, '/d1/x', 'x5'),
    s('a', T.SetPerms, '/d1/x'),
    s('a', T.SetPerms, '/d1/x', 'r'),
    s('a', T.SetPerms, '/d1/x', 'r1x'),
    s('a', T.SetPerms, '/d1/nope', 'r1'),
    s('a', T.Rm, '/d1/x'),
    s('a', T.Directory, '/d1'),
  ],
  'path validation and relative paths': [
    s('a', T.Read, '/a//b'),
    s('a', T.Read, '/a/'),
    s('a', T.Read, '/a b'),
    s('a', T.Read, ''),
    s('a', T.Read, '@introduceDomain'),
    s('a', T.Mkdir, '@foo'),
    s('a', T.Read, '/caf\u00e9'),
    { c: 'a', op: T.Read, raw: Buffer.from('/no-nul', 'latin1') },
    { c: 'a', op: T.Read, raw: Buffer.from('/a\0/b\0', 'latin1') },
    { c: 'a', op: T.Write, raw: Buffer.from('/no-nul-write', 'latin1') },
    w('a', 'rel/node', 'v'),
    s('a', T.Read, '/local/domain/0/rel/node'),
    s('a', T.Read, 'rel/node'),
    s('a', T.Directory, 'rel'),
    w('a', `/long/${'x'.repeat(3000)}`, 'v'),
    s('a', T.Read, `/long/${'x'.repeat(3000)}`),
    s('a', T.Mkdir, '/ok_chars-@/A-Z_09'),
    s('a', T.GetDomainPath, '3'),
    s('a', T.GetDomainPath, 'abc'),
    s('a', T.GetDomainPath, '-1'),
    { c: 'a', op: T.GetDomainPath, raw: Buffer.alloc(0) },
  ],
  'watches: registration, descendants, rm, relative, tokens': [
    w('a', '/w1/a/b', 'v'),
    s('b', T.Watch, '/w1', 'T1'),
    s('b', T.Watch, '/w1/a/b', 'AB'),
    s('b', T.Watch, '/w1/a/b/c/d', 'DEEP'),
    s('b', T.Watch, '/w1', 'T1'),
    s('b', T.Watch, '/w1', 'T2'),
    s('b', T.Watch, 'relw', 'REL'),
    s('b', T.Watch, '@foo', 'AT'),
    s('b', T.Watch, '/a//b', 'BAD'),
    { c: 'b', op: T.Watch, raw: Buffer.from('/w1\0tok', 'latin1') },
    w('a', '/w1/a/b', 'v'),
    w('a', '/w1/a/b', 'v'),
    w('a', '/w1/new/deep', 'v'),
    s('a', T.Mkdir, '/w1/a'),
    s('a', T.SetPerms, '/w1/a', 'n0', 'r3'),
    w('a', 'relw/sub', 'x'),
    s('a', T.Rm, 'relw'),
    s('a', T.Rm, '/w1/a'),
    s('b', T.Unwatch, '/w1', 'T2'),
    s('b', T.Unwatch, '/w1', 'T2'),
    s('b', T.Unwatch, 'relw', 'REL'),
    w('a', '/w1/z', 'v'),
    s('b', T.ResetWatches),
    w('a', '/w1/z', 'v'),
  ],
  'transactions: own writes, conflicts, events at commit': [
    w('a', '/t1/a/b', 'v'),
    w('a', '/t1/c', 'v'),
    s('b', T.Watch, '/t1', 'T'),
    s('b', T.Watch, '/t1/a/b', 'AB'),
    { c: 'a', op: T.TransactionStart, args: [''], as: 'X' },
    w('a', '/t1/n/m', 'v', 'X'),
    w('a', '/t1/c', 'v2', 'X'),
    st('a', T.Rm, 'X', '/t1/a'),
    st('a', T.SetPerms, 'X', '/t1/c', 'n0', 'r3'),
    st('a', T.Read, 'X', '/t1/c'),
    s('a', T.Read, '/t1/c'),
    st('a', T.Directory, 'X', '/t1'),
    st('a', T.Read, 'X', '/t1/a/b'),
    st('a', T.TransactionEnd, 'X', 'T'),
    s('a', T.Directory, '/t1'),
    { c: 'a', op: T.TransactionStart, args: [''], as: 'Y' },
    st('a', T.Read, 'Y', '/t1/zz'),
    w('a', '/t1/q', 'v', 'Y'),
    w('b', '/t1/zz', 'x'),
    st('a', T.TransactionEnd, 'Y', 'T'),
    s('a', T.Read, '/t1/q'),
    { c: 'a', op: T.TransactionStart, args: [''], as: 'Z' },
    w('a', '/t1/q2', 'v', 'Z'),
    w('b', '/t1/c', 'y'),
    st('a', T.TransactionEnd, 'Z', 'T'),
    { c: 'a', op: T.TransactionStart, args: [''], as: 'U' },
    w('a', '/t1/q3', 'v', 'U'),
    w('b', '/t1/other', 'y'),
    st('a', T.TransactionEnd, 'U', 'T'),
    { c: 'a', op: T.TransactionStart, args: [''], as: 'V' },
    st('a', T.TransactionStart, 'V', ''),
    st('a', T.Watch, 'V', '/zz', 'k'),
    st('a', T.TransactionEnd, 'V', 'X'),
    st('a', T.TransactionEnd, 'V', 'F'),
    st('a', T.TransactionEnd, 'V', 'F'),
    s('a', T.TransactionEnd, 'T'),
    { c: 'a', op: T.Read, args: ['/t1/c'], txId: 4242 },
    { c: 'a', op: T.TransactionStart, args: [''], as: 'W' },
    st('a', T.Mkdir, 'W', '/t1/mk'),
    st('a', T.DirectoryPart, 'W', '/t1', '0'),
    { c: 'a', op: T.TransactionEnd, args: ['T'], tx: 'W' },
  ],
  'transactions racing: siblings, a listed directory, a deleted node, a watch inside': [
    w('a', '/r1/base', 'v'),
    s('b', T.Watch, '/r1', 'R'),
    // Two transactions create siblings under one parent: the child list both touched changed.
    { c: 'a', op: T.TransactionStart, args: [''], as: 'P' },
    { c: 'b', op: T.TransactionStart, args: [''], as: 'Q' },
    w('a', '/r1/s1', 'v', 'P'),
    w('b', '/r1/s2', 'v', 'Q'),
    st('a', T.TransactionEnd, 'P', 'T'),
    st('b', T.TransactionEnd, 'Q', 'T'),
    s('a', T.Directory, '/r1'),
    // A transaction lists a directory; a child is added outside it; it then commits a write elsewhere.
    { c: 'a', op: T.TransactionStart, args: [''], as: 'D' },
    st('a', T.Directory, 'D', '/r1'),
    w('b', '/r1/s3', 'v'),
    w('a', '/r2/x', 'v', 'D'),
    st('a', T.TransactionEnd, 'D', 'T'),
    // A transaction reads a node that is deleted outside, then writes another.
    { c: 'a', op: T.TransactionStart, args: [''], as: 'E' },
    st('a', T.Read, 'E', '/r1/s3'),
    s('b', T.Rm, '/r1/s3'),
    w('a', '/r2/y', 'v', 'E'),
    st('a', T.TransactionEnd, 'E', 'T'),
    // A transaction deletes a subtree and recreates part of it; watchers see it at commit.
    { c: 'a', op: T.TransactionStart, args: [''], as: 'F' },
    st('a', T.Rm, 'F', '/r1'),
    w('a', '/r1/again', 'v', 'F'),
    st('a', T.GetPerms, 'F', '/r1'),
    st('a', T.TransactionEnd, 'F', 'T'),
    s('a', T.Directory, '/r1'),
    // Reading a node absent in the transaction and created outside it: a conflict in C.
    { c: 'a', op: T.TransactionStart, args: [''], as: 'G' },
    st('a', T.Read, 'G', '/r3/later'),
    w('b', '/r3/later', 'v'),
    st('a', T.TransactionEnd, 'G', 'T'),
    // Aborting one that would conflict is fine; so is ending one twice (ENOENT the second time).
    { c: 'a', op: T.TransactionStart, args: [''], as: 'H' },
    st('a', T.Read, 'H', '/r1/again'),
    w('b', '/r1/again', 'w'),
    st('a', T.TransactionEnd, 'H', 'F'),
    st('a', T.TransactionEnd, 'H', 'F'),
  ],
  'duplicate watch events made by one request are dropped (two watches, one token)': [
    s('a', T.Watch, '/dup', 'tok'),
    s('a', T.Watch, '/dup/x', 'tok'),
    s('a', T.Watch, '/dup/x', 'other'),
    s('a', T.Watch, 'dupr', 'tok'),
    s('a', T.Watch, '/local/domain/0/dupr', 'tok'),
    w('b', '/dup/x', '1'),
    w('b', '/dup/x/y', '2'),
    w('b', '/local/domain/0/dupr', '3'),
    s('b', T.SetPerms, '/dup/x', 'n0', 'r1'),
    s('a', T.Watch, '@releaseDomain', 'tok'),
    s('a', T.Watch, '@releaseDomain', 'tok2'),
    s('b', T.Rm, '/dup'),
    s('b', T.Rm, '/local/domain/0/dupr'),
  ],
  'big directories: E2BIG and DIRECTORY_PART paging': [
    ...Array.from({ length: 300 }, (_, i) => s('a', T.Mkdir, `/big/child-number-${String(i).padStart(4, '0')}`)),
    s('a', T.Directory, '/big'),
    s('a', T.DirectoryPart, '/big', '0'),
    s('a', T.DirectoryPart, '/big', '4070'),
    s('a', T.DirectoryPart, '/big', '7000'),
    s('a', T.DirectoryPart, '/big'),
    w('a', '/val/max', 'v'.repeat(4096 - 9 - 1)),
    s('a', T.Read, '/val/max'),
  ],
  'domains: introduce, owned nodes removed on release, special watches': [
    s('b', T.Watch, '@introduceDomain', 'I'),
    s('b', T.Watch, '@releaseDomain', 'R'),
    s('b', T.Watch, '/local/domain/7', 'D7'),
    s('b', T.Watch, '/shared', 'S'),
    w('a', '/shared/owned-by-7', 'v'),
    s('a', T.SetPerms, '/shared/owned-by-7', 'n7', 'r8'),
    w('a', '/shared/readable-by-7', 'v'),
    s('a', T.SetPerms, '/shared/readable-by-7', 'n0', 'r7'),
    s('a', T.Introduce, '7', '0', '1007'),
    s('a', T.IsDomainIntroduced, '7'),
    s('a', T.Introduce, '7', '0', '1007'),
    w('a', '/local/domain/7/data/x', 'v'),
    s('a', T.SetPerms, '/local/domain/7/data', 'b7'),
    s('a', T.SetPerms, '/local/domain/7', 'n0', 'r7'),
    s('a', T.Resume, '7'),
    s('a', T.SetTarget, '7', '0'),
    s('a', T.SetPerms, '@releaseDomain', 'n0', 'r7'),
    s('a', T.SetPerms, '@foo', 'n0'),
    s('a', T.Release, '7'),
    s('a', T.Release, '7'),
    s('a', T.IsDomainIntroduced, '7'),
    s('a', T.Read, '/shared/owned-by-7'),
    s('a', T.Directory, '/local/domain/7'),
    s('a', T.GetPerms, '/shared/readable-by-7'),
  ],
  'argument edge cases': [
    w('a', '/', 'rootval'),
    s('a', T.Read, '/'),
    s('a', T.Mkdir, '/'),
    w('a', '/e/abc', 'v'),
    w('a', '/e/defgh', 'v'),
    s('a', T.DirectoryPart, '/e', '2'),
    s('a', T.DirectoryPart, '/e', '-1'),
    s('a', T.DirectoryPart, '/e', 'x'),
    { c: 'a', op: T.Watch, raw: Buffer.from('/e\0tok\0extra\0', 'latin1') },
    s('a', T.Watch, 'rel/w', 'R'),
    s('a', T.Unwatch, '/local/domain/0/rel/w', 'R'),
    s('a', T.Unwatch, '/e', 'tok'),
    { c: 'a', op: T.TransactionStart, raw: Buffer.alloc(0), as: 'E' },
    { c: 'a', op: T.TransactionEnd, raw: Buffer.from('T', 'latin1'), tx: 'E' },
    { c: 'a', op: T.TransactionEnd, raw: Buffer.alloc(0), tx: 'E' },
    { c: 'a', op: T.TransactionEnd, raw: Buffer.from('F\0F\0', 'latin1'), tx: 'E' },
    { c: 'a', op: T.TransactionEnd, args: ['F'], tx: 'E' },
    { c: 'a', op: T.GetDomainPath, raw: Buffer.from('5', 'latin1') },
    s('a', T.Introduce, '11', 'junk', '-5'),
    s('a', T.Introduce, '11', 'junk', '12abc'),
    s('a', T.IsDomainIntroduced, '11'),
    s('a', T.Release, '11'),
    { c: 'a', op: T.SetPerms, raw: Buffer.from('/e\0r0\0b1', 'latin1') },
    s('a', T.GetPerms, '/e'),
    s('a', T.SetPerms, '/e', 'r4294967296'),
    s('a', T.SetPerms, '/e', 'b+3'),
    s('a', T.SetPerms, '/e', 'b 3'),
    s('a', T.SetPerms, '/e', 'n0', 'r00012'),
    ...['r-1', 'r0x10', 'r08', 'r0x', 'r 7', 'r99999999999999999999', 'r-4294967295'].flatMap((p) => [s('a', T.SetPerms, '/e', 'n0', p), s('a', T.GetPerms, '/e')]),
    s('a', T.GetPerms, '/e'),
    { c: 'a', op: T.TransactionStart, args: [''], as: 'F' },
    st('a', T.Rm, 'F', '/e'),
    st('a', T.Read, 'F', '/e/abc'),
    st('a', T.Directory, 'F', '/e'),
    w('a', '/e/abc', 'again', 'F'),
    st('a', T.Directory, 'F', '/e'),
    st('a', T.GetPerms, 'F', '/e'),
    st('a', T.TransactionEnd, 'F', 'T'),
    s('a', T.Directory, '/e'),
    s('a', T.GetPerms, '/e'),
  ],
  'unknown and daemon-only types, domains, control': [
    s('a', 99, 'x'),
    s('a', T.WatchEvent, 'x'),
    s('a', T.Error, 'x'),
    s('a', 20, '1'),
    s('a', T.Control, 'print', 'hi'),
    s('a', T.Control, 'nosuchcmd'),
    { c: 'a', op: T.Control, raw: Buffer.alloc(0) },
    s('a', T.IsDomainIntroduced, '0'),
    s('a', T.IsDomainIntroduced, '5'),
    s('a', T.IsDomainIntroduced, 'x'),
    s('b', T.Watch, '@introduceDomain', 'I'),
    s('b', T.Watch, '@releaseDomain', 'R'),
    s('a', T.GetPerms, '@releaseDomain'),
    s('a', T.Release, '0'),
    s('a', T.Release, '9'),
    s('a', T.Release, 'x'),
    s('a', T.Resume, '9'),
    s('a', T.SetTarget, '9', '8'),
    s('a', T.Introduce, '9', '0'),
    s('a', T.Introduce, '9', '0', '0'),
    s('a', T.Introduce, '0', '0', '1'),
  ],
};

for (const [name, steps] of Object.entries(scripts)) {
  test.serial(`sim matches C xenstored: ${name}`, async (t) => {
    if (!haveTools(t, ORACLE_SCRIPT, C_XENSTORED, onPath('gcc'))) return;
    const [ours, theirs] = await Promise.all([transcript(sim!.socket, steps), transcript(oracle!.socket, steps)]);
    t.deepEqual(ours, theirs);
  });
}

/*
 * C's command line takes 0 for every quota and clamps -M to XENSTORE_REL_PATH_MAX. A node
 * quota of 0 refuses even dom0's new nodes (C compares dom0's count, which it keeps at 0).
 */
test.serial('sim matches C xenstored: zero quotas and an over-long path quota from the command line', async (t) => {
  if (!haveTools(t, ORACLE_SCRIPT, C_XENSTORED, onPath('gcc'))) return;
  const steps: Step[] = [
    s('a', T.Control, 'quota'),
    w('a', '/x', 'v'),
    w('a', '/tool/xenstored', 'v'),
    s('a', T.Mkdir, '/y'),
    s('a', T.SetPerms, '/tool/xenstored', 'n0', 'r1'),
    s('a', T.Watch, '/x', 'tok'),
    s('a', T.TransactionStart, ''),
    w('a', `/local/domain/1/${'a/'.repeat(1025)}b`, 'v'),
  ];
  const [zeroSim, zeroC] = await Promise.all([
    startSim(['--quota-nodes', '0', '--quota-node-size', '0', '--quota-perms', '0', '--quota-watches', '0',
      '--quota-transactions', '0', '--quota-outstanding', '0', '--quota-path', '5000']),
    startOracle(['-E', '0', '-S', '0', '-A', '0', '-W', '0', '-t', '0', '-Q', 'outstanding=0', '-M', '5000']),
  ]);
  try {
    const [ours, theirs] = await Promise.all([transcript(zeroSim.socket, steps), transcript(zeroC.socket, steps)]);
    t.deepEqual(ours, theirs);
  } finally {
    await Promise.all([zeroSim.stop(), zeroC.stop()]);
  }
});
