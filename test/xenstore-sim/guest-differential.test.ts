import test, { type ExecutionContext } from 'ava';
import { closeSync, existsSync, openSync, rmSync, writeFileSync, writeSync, constants } from 'node:fs';
import { XenstoreServer, listenUnix, memoryStreamPair, type ByteStream, type GuestConnector, type UnixListener } from '../../src/xenstore-sim/server/index.js';
import { XsType as T } from '../../src/xenstore-sim/wire/messages.js';
import { oracleAvailable, shortTempDir, startOracle, type Daemon } from './helpers/daemons.js';
import { transcript, type Step } from './helpers/differ.js';
import { RawClient } from './helpers/raw-client.js';
import { ringFileClient } from './helpers/ring-file-client.js';
import { C_XENSTORED, haveTools, onPath, ORACLE_SCRIPT } from './helpers/tools.js';

/*
 * Differential tests as an unprivileged guest. The real C xenstored serves the guest over
 * the oracle's fake ring page; our server serves it over the stream its GuestConnector hands
 * out at INTRODUCE (here an in-memory pair: the ring transport itself is tested with the ring
 * code). dom0 talks over unix sockets to both.
 */

class MemoryGuests implements GuestConnector {
  readonly clients = new Map<number, ByteStream>();
  private gone: ((domid: number) => void) | undefined;
  private shutdown: ((domid: number) => void) | undefined;
  connect(domid: number): ByteStream {
    const [client, served] = memoryStreamPair();
    this.clients.set(domid, client);
    return served;
  }
  onDomainGone(cb: (domid: number) => void): void {
    this.gone = cb;
  }
  onDomainShutdown(cb: (domid: number) => void): void {
    this.shutdown = cb;
  }
  /** What the ring connector reports when the hypervisor says the domain shut down or died. */
  shutDown(domid: number): void {
    this.shutdown?.(domid);
  }
  die(domid: number): void {
    this.gone?.(domid);
  }
}

function streamClient(stream: ByteStream): RawClient {
  const client = new RawClient((buf) => stream.write(buf), () => stream.close());
  stream.onData((chunk) => client.receive(chunk));
  stream.onClose(() => client.markClosed());
  return client;
}

/** Openers for guest connections `names` (name -> domid): ours over the server's streams, or C's ring files. */
function ourGuests(names: Record<string, number>): Record<string, () => Promise<RawClient>> {
  return Object.fromEntries(Object.entries(names).map(([name, domid]) => [name, async () => streamClient(guests.clients.get(domid)!)]));
}

function cGuests(names: Record<string, number>): Record<string, () => Promise<RawClient>> {
  return Object.fromEntries(Object.entries(names).map(([name, domid]) => [name, async () => ringFileClient(`${oracle!.dir}/fx`, domid)]));
}

/** Run the same steps against both daemons, guests opened as named, and compare; returns ours. */
async function sameAsC(t: ExecutionContext, steps: Step[], names: Record<string, number>): Promise<string[]> {
  const ours = await transcript(listener!.path, steps, ourGuests(names));
  const theirs = await transcript(oracle!.socket, steps, cGuests(names));
  t.deepEqual(ours, theirs);
  return ours;
}

let oracle: Daemon | undefined;
let dir: string | undefined;
let listener: UnixListener | undefined;
const guests = new MemoryGuests();

test.before(async () => {
  if (!oracleAvailable() || !existsSync(onPath('gcc'))) return;
  dir = shortTempDir('xsg.');
  const server = new XenstoreServer({ guests });
  listener = await listenUnix(server, `${dir}/socket`);
  oracle = await startOracle();
});

test.after.always(async () => {
  await listener?.close();
  await oracle?.stop();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

const s = (c: string, op: number, ...args: string[]): Step => ({ c, op, args });
const w = (c: string, path: string, value: string, tx?: string): Step => ({ c, op: T.Write, raw: Buffer.from(`${path}\0${value}`, 'latin1'), ...(tx === undefined ? {} : { tx }) });
/** dom0 makes the guest's home, owned by it, and introduces the guest (port 1000 + domid). */
const homeAndIntroduce = (domid: number): Step[] => [
  s('a', T.Mkdir, `/local/domain/${domid}`),
  s('a', T.SetPerms, `/local/domain/${domid}`, `n${domid}`),
  s('a', T.Introduce, String(domid), '0', String(1000 + domid)),
];

const steps: Step[] = [
  s('b', T.Watch, '@introduceDomain', 'I'),
  s('b', T.Watch, '@releaseDomain', 'R'),
  s('b', T.Watch, '/local/domain/7', 'HOME'),
  s('a', T.Mkdir, '/local/domain/7'),
  s('a', T.SetPerms, '/local/domain/7', 'n7'),
  w('a', '/shared/x', 'v'),
  s('a', T.SetPerms, '/shared', 'n0', 'r7'),
  s('a', T.SetPerms, '/shared/x', 'n0', 'r7'),
  w('a', '/secret/s', 'v'),
  s('a', T.Introduce, '7', '0', '1007'),
  s('g', T.GetDomainPath, '7'),
  s('g', T.IsDomainIntroduced, '7'),
  s('g', T.Read, 'nothing'),
  w('g', 'data/x', 'v'),
  s('g', T.Read, '/local/domain/7/data/x'),
  s('g', T.GetPerms, 'data/x'),
  s('g', T.GetPerms, '/local/domain/7'),
  s('g', T.Directory, '/'),
  s('g', T.Read, '/tool'),
  s('g', T.Read, '/nonexistent'),
  s('g', T.Read, '/secret/s'),
  s('g', T.Read, '/secret/nope'),
  w('g', '/foo', 'v'),
  s('g', T.Mkdir, '/local/domain/8'),
  s('g', T.Read, '/shared/x'),
  s('g', T.Read, '/shared/nope'),
  w('g', '/shared/x', 'mine'),
  s('g', T.Rm, '/shared/x'),
  s('g', T.Rm, '/shared/nope'),
  s('g', T.SetPerms, 'data/x', 'n0'),
  s('g', T.SetPerms, 'data/x', 'n7', 'r8'),
  s('g', T.SetPerms, '/shared', 'n7'),
  s('g', T.Watch, '/shared', 'SH'),
  s('g', T.Watch, '/secret', 'SE'),
  s('g', T.Watch, 'data', 'REL'),
  s('g', T.Watch, '@releaseDomain', 'GR'),
  s('g', T.Watch, '/shared/x/deeper', 'DEEP'),
  w('a', '/shared/hidden', 'v'),
  s('a', T.SetPerms, '/shared/hidden', 'n0'),
  w('a', '/shared/hidden', 'v2'),
  s('a', T.SetPerms, '/shared/hidden', 'n0', 'r7'),
  s('a', T.SetPerms, '/shared/x', 'n0'),
  w('a', '/shared/x/deeper', 'v'),
  s('a', T.Rm, '/shared/x'),
  w('a', '/shared/y', 'v'),
  w('a', '/secret/t', 'v'),
  w('a', '/local/domain/7/data/z', 'v'),
  s('g', T.Rm, 'data/z'),
  s('g', T.Control, 'print', 'x'),
  s('g', T.Introduce, '8', '0', '1008'),
  s('g', T.Release, '7'),
  { c: 'g', op: T.TransactionStart, args: [''], as: 'X' },
  w('g', 'tx/a', '1', 'X'),
  { c: 'g', op: T.Read, args: ['tx/a'], tx: 'X' },
  s('g', T.Read, 'tx/a'),
  { c: 'g', op: T.TransactionEnd, args: ['T'], tx: 'X' },
  s('g', T.Read, 'tx/a'),
  s('g', T.ResetWatches),
  w('a', '/shared/y', 'again'),
  { c: 'a', op: T.Release, args: ['7'], ends: 'g' },
  s('a', T.Read, '/local/domain/7'),
  s('a', T.GetPerms, '/shared'),
  s('a', T.IsDomainIntroduced, '7'),
];

test.serial('a guest sees the same from our daemon as from C xenstored', async (t) => {
  if (!haveTools(t, ORACLE_SCRIPT, C_XENSTORED, onPath('gcc'))) return;
  await sameAsC(t, steps, { g: 7 });
});

/** Guest quotas at C's defaults: watches, transactions, permissions, node and child-list sizes. */
const quotaSteps: Step[] = [
  s('a', T.Mkdir, '/local/domain/9'),
  s('a', T.SetPerms, '/local/domain/9', 'n9'),
  s('a', T.Introduce, '9', '0', '1009'),
  ...Array.from({ length: 131 }, (_, i): Step => ({ ...s('q', T.Watch, `w${i}`, 't'), quiet: true })),
  ...Array.from({ length: 13 }, (): Step => ({ ...s('q', T.TransactionStart, ''), quiet: true })),
  s('q', T.SetPerms, 'p', 'n9', 'r1', 'r2', 'r3', 'r4', 'r5'),
  s('q', T.Mkdir, 'p'),
  s('q', T.SetPerms, 'p', 'n9', 'r1', 'r2', 'r3', 'r4', 'r5'),
  s('q', T.SetPerms, 'p', 'n9', 'r1', 'r2', 'r3', 'r4'),
  w('q', 'big', 'x'.repeat(2015)),
  w('q', 'big2', 'x'.repeat(2016)),
  // The home directory's child list outgrows the node size long before 1000 nodes.
  ...Array.from({ length: 440 }, (_, i): Step => ({ ...w('q', `n${i}`, 'v'), quiet: true })),
  w('q', 'last', 'v'),
];

test.serial('guest quotas match C xenstored', async (t) => {
  if (!haveTools(t, ORACLE_SCRIPT, C_XENSTORED, onPath('gcc'))) return;
  const ours = await sameAsC(t, quotaSteps, { q: 9 });
  t.true(ours.some((l) => l.includes('E2BIG')) && ours.some((l) => l.includes('ENOSPC')));
});

/** Two watches with one token firing for one change: C sends the guest one event (add_event()). */
const duplicateSteps: Step[] = [
  ...homeAndIntroduce(12),
  s('d', T.Watch, 'dup', 'T'),
  s('d', T.Watch, 'dup/x', 'T'),
  s('d', T.Watch, '/local/domain/12/dup/x', 'T'),
  s('d', T.Watch, 'dup/x', 'U'),
  w('a', '/local/domain/12/dup/x', '1'),
  w('d', 'dup/x/y', '2'),
  s('d', T.Rm, 'dup'),
  { c: 'a', op: T.Release, args: ['12'], ends: 'd' },
];

test.serial('a guest gets one event where two watches with one token fire, as from C xenstored', async (t) => {
  if (!haveTools(t, ORACLE_SCRIPT, C_XENSTORED, onPath('gcc'))) return;
  await sameAsC(t, duplicateSteps, { d: 12 });
});

/** The special nodes as a guest sees them: their permissions, watches on them, and changes to them. */
const specialSteps: Step[] = [
  ...homeAndIntroduce(26),
  s('k', T.GetPerms, '@releaseDomain'),
  s('k', T.GetPerms, '@introduceDomain'),
  s('k', T.GetPerms, '@other'),
  s('k', T.SetPerms, '@releaseDomain', 'n26'),
  // C answers a refused special SET_PERMS with whatever errno held: here the missing node's.
  s('k', T.Read, 'nothing-here'),
  s('k', T.SetPerms, '@introduceDomain', 'n26'),
  s('k', T.Write, '/tool/denied'),
  s('k', T.SetPerms, '@introduceDomain', 'n26'),
  s('k', T.Watch, '@introduceDomain', 'I'),
  s('k', T.Watch, '@releaseDomain', 'R'),
  s('a', T.Mkdir, '/local/domain/27'),
  s('a', T.Introduce, '27', '0', '1027'),
  s('a', T.SetPerms, '@introduceDomain', 'n0', 'r26'),
  s('k', T.GetPerms, '@introduceDomain'),
  s('a', T.Mkdir, '/local/domain/28'),
  s('a', T.Introduce, '28', '0', '1028'),
  s('a', T.Release, '27'),
  s('a', T.SetPerms, '@releaseDomain', 'n26', 'r0'),
  s('k', T.SetPerms, '@releaseDomain', 'n26', 'b27'),
  s('k', T.GetPerms, '@releaseDomain'),
  s('a', T.Release, '28'),
  s('k', T.Read, '@releaseDomain'),
  s('k', T.Rm, '@releaseDomain'),
  s('a', T.SetPerms, '@releaseDomain', 'n0'),
  s('a', T.SetPerms, '@introduceDomain', 'n0'),
  { c: 'a', op: T.Release, args: ['26'], ends: 'k' },
];

test.serial('the special nodes @introduceDomain and @releaseDomain as a guest sees them, as with C xenstored', async (t) => {
  if (!haveTools(t, ORACLE_SCRIPT, C_XENSTORED, onPath('gcc'))) return;
  const ours = await sameAsC(t, specialSteps, { k: 26 });
  // The refused special SET_PERMS answered three different stale errnos, as C did.
  const refused = ours.filter((l) => l.startsWith('k XS_SET_PERMS ["@') && l.includes('XS_ERROR'));
  t.deepEqual(refused.map((l) => /"(E[A-Z]+)/.exec(l)?.[1]), ['EINVAL', 'ENOENT', 'EACCES']);
});

/** SET_TARGET: a device-model domain acts with its target's rights (C's conn->target). */
const targetSteps: Step[] = [
  s('a', T.Mkdir, '/local/domain/22'),
  s('a', T.SetPerms, '/local/domain/22', 'n22'),
  s('a', T.Mkdir, '/local/domain/23'),
  s('a', T.SetPerms, '/local/domain/23', 'n23'),
  s('a', T.Introduce, '22', '0', '1022'),
  s('a', T.Introduce, '23', '0', '1023'),
  w('x', 'private', 'p'),
  s('x', T.SetPerms, 'private', 'n22'),
  s('y', T.Read, '/local/domain/22/private'),
  s('y', T.Watch, '/local/domain/22/private', 'DM'),
  s('a', T.SetTarget, '23', '22'),
  s('y', T.Read, '/local/domain/22/private'),
  w('y', '/local/domain/22/private', 'by-dm'),
  s('y', T.GetPerms, '/local/domain/22/private'),
  s('y', T.SetPerms, '/local/domain/22/private', 'n22', 'r23'),
  s('y', T.SetPerms, '/local/domain/22/private', 'n23'),
  w('x', 'private', 'again'),
  w('y', '/local/domain/22/made-by-dm', 'v'),
  s('x', T.GetPerms, 'made-by-dm'),
  s('a', T.SetTarget, '23', '99'),
  s('b', T.Watch, '@releaseDomain', 'REL'),
  // The target of a SET_TARGET: RELEASE only drops that reference (the domain lives on).
  s('a', T.Release, '22'),
  s('a', T.IsDomainIntroduced, '22'),
  s('y', T.Read, '/local/domain/22/private'),
  w('x', 'still', 'here'),
  { c: 'a', op: T.Release, args: ['23'], ends: 'y' },
  // (C 4.17 would go on to free 22 under 23's dangling target pointer if 23 were released
  // after 22: it dies then, so the script releases the device model first.)
  { c: 'a', op: T.Release, args: ['22'], ends: 'x' },
  s('a', T.IsDomainIntroduced, '22'),
  s('a', T.Read, '/local/domain/22/private'),
];

test.serial('a device-model guest acts with its target\'s rights after SET_TARGET, as with C xenstored', async (t) => {
  if (!haveTools(t, ORACLE_SCRIPT, C_XENSTORED, onPath('gcc'))) return;
  await sameAsC(t, targetSteps, { x: 22, y: 23 });
});

/**
 * The oracle's fake hypervisor: a domain reports shut down while <fx>/shutdown-<domid> exists
 * and is gone once <fx>/gone-<domid> exists; port 999 on the event FIFO is VIRQ_DOM_EXC. The
 * daemon reads the FIFO on its own schedule, so give it a moment before the next request (ours
 * is told synchronously).
 */
async function oracleDomainEvent(fx: string, kind: 'shutdown' | 'gone', domid: number): Promise<void> {
  writeFileSync(`${fx}/${kind}-${domid}`, '');
  const fd = openSync(`${fx}/evtchn`, constants.O_WRONLY | constants.O_NONBLOCK);
  try {
    const port = Buffer.alloc(4);
    port.writeUInt32LE(999);
    writeSync(fd, port);
  } finally {
    closeSync(fd);
  }
  await new Promise((resolve) => setTimeout(resolve, ORACLE_SETTLE_MS));
}

const ORACLE_SETTLE_MS = 100;

/** A guest that shuts down is still introduced and served; one that dies is released. */
function lifecycleSteps(shutDown: () => void | Promise<void>, die: () => void | Promise<void>): Step[] {
  return [
    s('b', T.Watch, '@releaseDomain', 'R'),
    s('a', T.Mkdir, '/local/domain/11'),
    s('a', T.SetPerms, '/local/domain/11', 'n11'),
    s('a', T.Introduce, '11', '0', '1011'),
    w('l', 'data/x', 'v'),
    { ...s('a', T.IsDomainIntroduced, '11'), before: shutDown },
    s('l', T.Read, 'data/x'),
    s('a', T.Read, '/local/domain/11/data/x'),
    s('a', T.Resume, '11'),
    s('l', T.Write, 'data/y'),
    { ...s('a', T.IsDomainIntroduced, '11'), before: die, ends: 'l' },
    s('a', T.Read, '/local/domain/11/data/x'),
    s('a', T.Release, '11'),
  ];
}

test.serial('a guest that shuts down stays introduced; one that dies is released (as C)', async (t) => {
  if (!haveTools(t, ORACLE_SCRIPT, C_XENSTORED, onPath('gcc'))) return;
  const fx = `${oracle!.dir}/fx`;
  const ours = await transcript(listener!.path, lifecycleSteps(() => guests.shutDown(11), () => guests.die(11)), {
    l: async () => streamClient(guests.clients.get(11)!),
  });
  const theirs = await transcript(oracle!.socket, lifecycleSteps(() => oracleDomainEvent(fx, 'shutdown', 11), () => oracleDomainEvent(fx, 'gone', 11)), {
    l: async () => ringFileClient(fx, 11),
  });
  t.deepEqual(ours, theirs);
  // @releaseDomain fired at registration, at the shutdown and at the death.
  t.is(ours.filter((l) => l.includes('event "@releaseDomain')).length, 3, ours.join('\n'));
});

/** A SET_TARGET target that dies while its device model lives: C keeps it until the reference goes. */
function targetDeathSteps(die: () => void | Promise<void>): Step[] {
  return [
    s('b', T.Watch, '@releaseDomain', 'R'),
    s('a', T.Mkdir, '/local/domain/24'),
    s('a', T.SetPerms, '/local/domain/24', 'n24'),
    s('a', T.Mkdir, '/local/domain/25'),
    s('a', T.SetPerms, '/local/domain/25', 'n25'),
    s('a', T.Introduce, '24', '0', '1024'),
    s('a', T.Introduce, '25', '0', '1025'),
    s('a', T.SetTarget, '25', '24'),
    w('m', '/local/domain/24/dm', 'v'),
    { ...s('a', T.IsDomainIntroduced, '24'), before: die },
    s('a', T.Read, '/local/domain/24/dm'),
    s('m', T.Read, '/local/domain/24/dm'),
    // Introduced but without a connection: the calls that need one answer EINVAL.
    s('a', T.Release, '24'),
    s('a', T.Resume, '24'),
    s('a', T.SetTarget, '25', '24'),
    s('a', T.SetTarget, '24', '25'),
    { c: 'a', op: T.Release, args: ['25'], ends: 'm' },
    s('a', T.IsDomainIntroduced, '24'),
    s('a', T.Read, '/local/domain/24/dm'),
  ];
}

test.serial('a SET_TARGET target that dies stays until its device model goes, as in C xenstored', async (t) => {
  if (!haveTools(t, ORACLE_SCRIPT, C_XENSTORED, onPath('gcc'))) return;
  const fx = `${oracle!.dir}/fx`;
  const ours = await transcript(listener!.path, targetDeathSteps(() => guests.die(24)), ourGuests({ m: 25 }));
  const theirs = await transcript(oracle!.socket, targetDeathSteps(() => oracleDomainEvent(fx, 'gone', 24)), cGuests({ m: 25 }));
  t.deepEqual(ours, theirs);
});

/** Quotas set through XS_CONTROL at run time: transaction nodes and memory, and a guest's usage report. */
const controlQuotaSteps: Step[] = [
  s('a', T.Mkdir, '/local/domain/12'),
  s('a', T.SetPerms, '/local/domain/12', 'n12'),
  s('a', T.Control, 'quota', '12'),
  s('a', T.Introduce, '12', '0', '1012'),
  s('a', T.Control, 'quota', '12'),
  s('a', T.Control, 'quota', 'set', 'transaction-nodes', '3'),
  { c: 'm', op: T.TransactionStart, args: [''], as: 'X' },
  { c: 'm', op: T.Read, args: ['a'], tx: 'X' },
  { c: 'm', op: T.Read, args: ['b'], tx: 'X' },
  { c: 'm', op: T.Read, args: ['c'], tx: 'X' },
  { c: 'm', op: T.Read, args: ['d'], tx: 'X' },
  { c: 'm', op: T.Read, args: ['a'], tx: 'X' },
  s('a', T.Control, 'quota', '12'),
  { c: 'm', op: T.TransactionEnd, args: ['F'], tx: 'X' },
  s('m', T.Watch, 'data', 'W'),
  s('a', T.Control, 'quota', '12'),
  s('a', T.Control, 'quota', 'set', 'memory', '400'),
  w('m', 'v1', 'x'.repeat(100)),
  w('m', 'v2', 'x'.repeat(100)),
  w('m', 'v3', 'x'.repeat(100)),
  w('m', 'v1', 'y'),
  w('m', 'v3', 'x'.repeat(100)),
  w('m', 'v1', 'z'.repeat(300)),
  s('m', T.Mkdir, 'd1/d2'),
  s('m', T.SetPerms, 'v1', 'n12', 'r1', 'r2', 'r3', 'r4'),
  s('m', T.Watch, 'more', 'x'.repeat(200)),
  s('a', T.Control, 'quota', '12'),
  s('a', T.Control, 'quota', 'set', 'memory', '2621440'),
  s('a', T.Control, 'quota', 'set', 'transaction-nodes', '1024'),
  { c: 'a', op: T.Release, args: ['12'], ends: 'm' },
  s('a', T.Control, 'quota', '12'),
];

test.serial('quotas set through XS_CONTROL bind a guest as in C xenstored', async (t) => {
  if (!haveTools(t, ORACLE_SCRIPT, C_XENSTORED, onPath('gcc'))) return;
  const ours = await sameAsC(t, controlQuotaSteps, { m: 12 });
  t.true(ours.some((l) => l.includes('ENOMEM')) && ours.some((l) => l.includes('ENOSPC')), ours.join('\n'));
});

/**
 * The memory quota at its edge (reaching it is already too much), for writes by the guest and
 * by dom0 to the guest's nodes, and inside transactions: a write there that would reach it,
 * or a node too big, fails and fails the transaction, whose commit then answers ENOMEM.
 */
const big = (n: number): string => 'x'.repeat(n);
const memoryQuotaSteps: Step[] = [
  ...homeAndIntroduce(13),
  s('a', T.Control, 'quota', '13'),
  s('a', T.Control, 'quota', 'set', 'memory', '112'),
  w('x', 'b1', big(10)),
  s('a', T.Control, 'quota', 'set', 'memory', '113'),
  w('x', 'b1', big(10)),
  s('a', T.Control, 'quota', '13'),
  w('a', '/local/domain/13/b1', big(11)),
  w('a', '/local/domain/13/b1', big(9)),
  w('a', '/local/domain/13/b2', ''),
  s('a', T.Control, 'quota', 'set', 'memory', '300'),
  s('x', T.Read, 'b1'),
  s('a', T.Control, 'quota', 'set', 'memory', '1000'),
  { c: 'x', op: T.TransactionStart, args: [''], as: 'X' },
  s('a', T.Control, 'quota', 'set', 'memory', '400'),
  w('x', 'v1', big(50), 'X'),
  s('a', T.Control, 'quota', '13'),
  w('x', 'v2', big(150), 'X'),
  w('x', 'v3', big(5), 'X'),
  { c: 'x', op: T.Read, args: ['v3'], tx: 'X' },
  { c: 'x', op: T.Read, args: ['v1'], tx: 'X' },
  s('a', T.Control, 'quota', '13'),
  { c: 'x', op: T.TransactionEnd, args: ['T'], tx: 'X' },
  s('x', T.Read, 'v1'),
  s('a', T.Control, 'quota', 'set', 'memory', '100000'),
  { c: 'x', op: T.TransactionStart, args: [''], as: 'Y' },
  w('x', 'huge', big(2100), 'Y'),
  w('x', 'small', 'v', 'Y'),
  { c: 'x', op: T.TransactionEnd, args: ['T'], tx: 'Y' },
  { c: 'x', op: T.TransactionStart, args: [''], as: 'Z' },
  w('x', 'small', 'v', 'Z'),
  s('a', T.Control, 'quota', '13'),
  // Its copy of b1 (64 bytes) fits under 300; with two more permissions it would not.
  s('a', T.Control, 'quota', 'set', 'memory', '300'),
  { c: 'x', op: T.SetPerms, args: ['b1', 'n13', 'r1', 'r2'], tx: 'Z' },
  s('a', T.Control, 'quota', '13'),
  { c: 'x', op: T.TransactionEnd, args: ['F'], tx: 'Z' },
  { c: 'x', op: T.TransactionStart, args: [''], as: 'W' },
  s('a', T.Control, 'quota', 'set', 'memory', '100000'),
  w('x', 'late', 'v', 'W'),
  { c: 'x', op: T.TransactionEnd, args: ['T'], tx: 'W' },
  s('x', T.Read, 'late'),
  s('a', T.Control, 'quota', 'set', 'memory', '2621440'),
  s('a', T.Control, 'quota', '13'),
  { c: 'a', op: T.Release, args: ['13'], ends: 'x' },
];

test.serial('the memory quota at its edge and inside transactions, as in C xenstored', async (t) => {
  if (!haveTools(t, ORACLE_SCRIPT, C_XENSTORED, onPath('gcc'))) return;
  const ours = await sameAsC(t, memoryQuotaSteps, { x: 13 });
  t.true(ours.some((l) => l.includes('TRANSACTION_END') && l.includes('ENOMEM')), ours.join('\n'));
});
