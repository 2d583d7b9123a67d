import test from 'ava';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { XenstoreServer, listenUnix, type UnixListener } from '../../src/xenstore-sim/server/index.js';
import { XsFrameParser } from '../../src/xenstore-sim/wire/parser.js';
import { XsType as T, xsTypeName } from '../../src/xenstore-sim/wire/messages.js';
import { oracleAvailable, shortTempDir, startOracle, type Daemon } from './helpers/daemons.js';
import { frame, RawClient, strings } from './helpers/raw-client.js';
import { oracleRing, PageGuests, type RawGuestRing } from './helpers/raw-ring.js';
import { C_XENSTORED, haveTools, onPath, ORACLE_SCRIPT } from './helpers/tools.js';

/*
 * C xenstored 4.17's write rate limit (wrl), compared with the real daemon. C writes one trace
 * line "wrl: domain N credit=..." per write it charges a guest for, and so do we: the number
 * of those lines per guest request is compared, request by request, while a dom0 transaction
 * is open (then C charges writes made outside transactions) and while none is. Then a guest
 * that writes more than any guest can ever have credit for is held (its requests stay in its
 * ring) while a transaction is open, and is not without one. How fast credit comes back is
 * timing, left to write-rate-limit.test.ts on a hand-moved clock. Ours runs in-process over
 * real ring streams on plain memory pages, C over the oracle's ring files.
 */

let oracle: Daemon | undefined;
let dir: string | undefined;
let listener: UnixListener | undefined;
const guests = new PageGuests();
const ourTrace: string[] = [];

test.before(async () => {
  if (!oracleAvailable() || !existsSync(onPath('gcc'))) return;
  dir = shortTempDir('xsw.');
  listener = await listenUnix(new XenstoreServer({ guests, trace: (line) => ourTrace.push(line) }), `${dir}/socket`);
  // The oracle script traces to DIR/trace.log.
  oracle = await startOracle();
});

test.after.always(async () => {
  await listener?.close();
  await oracle?.stop();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

/** One daemon as a script sees it: dom0 on the socket, each introduced guest's page, and its trace. */
interface World {
  dom0: RawClient;
  ring(domid: number): RawGuestRing;
  /** Trace lines written since the last call. */
  newTrace(): string[];
}

async function ourWorld(): Promise<World> {
  let seen = ourTrace.length;
  return {
    dom0: await RawClient.unix(listener!.path),
    ring: (domid) => guests.ring(domid),
    newTrace: () => ourTrace.slice(seen, (seen = ourTrace.length)),
  };
}

async function cWorld(): Promise<World> {
  const file = `${oracle!.dir}/trace.log`;
  let seen = readFileSync(file).length;
  return {
    dom0: await RawClient.unix(oracle!.socket),
    ring: (domid) => oracleRing(`${oracle!.dir}/fx`, domid),
    newTrace: () => {
      const bytes = readFileSync(file);
      const text = bytes.toString('latin1', seen);
      seen = bytes.length;
      return text.split('\n');
    },
  };
}

async function run(world: World, script: (w: World, log: (line: string) => void) => Promise<void>): Promise<string[]> {
  const lines: string[] = [];
  try {
    await script(world, (line) => lines.push(line));
  } finally {
    world.dom0.close();
  }
  return lines;
}

async function ask(dom0: RawClient, type: number, ...args: string[]): Promise<string> {
  const { reply } = await dom0.request(type, strings(...args));
  return reply === undefined ? '(no reply)' : `${xsTypeName(reply.type)} ${reply.payload.toString('latin1').replace(/\0/g, ' ').trim()}`;
}

/** A home owned by the guest, then INTRODUCE. */
async function introduce(dom0: RawClient, domid: number): Promise<string[]> {
  return [
    await ask(dom0, T.Mkdir, `/local/domain/${domid}`),
    await ask(dom0, T.SetPerms, `/local/domain/${domid}`, `n${domid}`),
    await ask(dom0, T.Introduce, String(domid), '0', String(1000 + domid)),
  ];
}

/** Generous: a guest in write debt waits for its credit, seconds at most here. */
const REPLY_MS_MAX = 10_000;

/** Wait for the next frame in the guest's rsp[] (taking what arrived). */
async function nextFrame(g: RawGuestRing, parser: XsFrameParser, timeoutMs = REPLY_MS_MAX): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    parser.push(g.take());
    const p = parser.nextPacket();
    if (p !== undefined) return `${xsTypeName(p.type)}#${p.reqId} ${p.payload.toString('latin1').replace(/\0/g, ' ').trim()}`;
    if (Date.now() > deadline) return '(no reply)';
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A debit line: "wrl: domain N credit=C (reserve=R)" (not C's "... SLEEPING for N" lines). */
const debitLine = (domid: number): RegExp => new RegExp(`^wrl: domain ${domid} credit=-?\\d+ \\(reserve=-?\\d+\\)$`);

test.serial('a guest is charged for the same writes as by C, with and without a transaction open', async (t) => {
  if (!haveTools(t, ORACLE_SCRIPT, C_XENSTORED, onPath('gcc'))) return;
  const script = async (w: World, log: (line: string) => void): Promise<void> => {
    const { dom0 } = w;
    const domid = 5;
    for (const line of await introduce(dom0, domid)) log(line);
    const g = w.ring(domid);
    const parser = new XsFrameParser();
    let reqId = 0;
    w.newTrace();
    /** One guest request; logs its reply and how many writes it was charged for. */
    const guest = async (label: string, type: number, payload: Buffer, txId = 0): Promise<string> => {
      g.put(frame(type, ++reqId, txId, payload));
      const reply = await nextFrame(g, parser);
      const debits = w.newTrace().filter((l) => debitLine(domid).test(l)).length;
      log(`${label}: ${reply}, ${debits} debits`);
      return reply.replace(/^\S+ /, '');
    };
    const write = (path: string, value: string): Buffer => Buffer.from(`${path}\0${value}`, 'latin1');
    try {
      const phase = async (label: string): Promise<void> => {
        await guest(`${label} write new`, T.Write, write('e', 'v'));
        await guest(`${label} write existing`, T.Write, write('e', 'w'));
        await guest(`${label} write with missing parents`, T.Write, write('x/y/z', 'v'));
        await guest(`${label} mkdir new`, T.Mkdir, strings('m'));
        await guest(`${label} mkdir existing`, T.Mkdir, strings('m'));
        await guest(`${label} set_perms`, T.SetPerms, strings('e', 'n5', 'r0'));
        await guest(`${label} rm subtree`, T.Rm, strings('x'));
        await guest(`${label} rm absent`, T.Rm, strings('absent'));
        await guest(`${label} write refused (EACCES)`, T.Write, write('/local/domain/0/no', 'v'));
        await guest(`${label} read`, T.Read, strings('e'));
        // A node too big: C's access_node() charged the write before the size check refused it.
        await guest(`${label} write too big (ENOSPC)`, T.Write, write('e', 'z'.repeat(120)));
        const tx = await guest(`${label} transaction start`, T.TransactionStart, strings(''));
        await guest(`${label} write in the transaction`, T.Write, write('t', 'v'), Number(tx));
        await guest(`${label} write outside it`, T.Write, write('e', 'o'));
        await guest(`${label} commit`, T.TransactionEnd, strings('T'), Number(tx));
        const a = await guest(`${label} transaction A`, T.TransactionStart, strings(''));
        const b = await guest(`${label} transaction B`, T.TransactionStart, strings(''));
        await guest(`${label} read-only commit of A while B is open`, T.TransactionEnd, strings('T'), Number(a));
        await guest(`${label} abort B`, T.TransactionEnd, strings('F'), Number(b));
        await guest(`${label} rm the rest`, T.Rm, strings('m'));
      };
      log(await ask(dom0, T.Control, 'quota', 'set', 'node-size', '100'));
      const { reply } = await dom0.request(T.TransactionStart, strings(''));
      const dom0Tx = Number(reply!.payload.toString('latin1').replace(/\0/g, ''));
      await phase('dom0 transaction open:');
      log(`dom0 abort: ${xsTypeName((await dom0.request(T.TransactionEnd, strings('F'), dom0Tx)).reply?.type ?? -1)}`);
      await phase('dom0 transaction closed:');
      log(await ask(dom0, T.Control, 'quota', 'set', 'node-size', '2048'));
      log(await ask(dom0, T.Release, String(domid)));
    } finally {
      g.close();
    }
  };
  const ours = await run(await ourWorld(), script);
  const theirs = await run(await cWorld(), script);
  t.deepEqual(ours, theirs);
  // C's counts, as its rules read: each node written or deleted, and each parent's child list.
  t.true(ours.includes('dom0 transaction open: write with missing parents: XS_WRITE#3 OK, 4 debits'), ours.join('\n'));
  t.true(ours.includes('dom0 transaction open: rm subtree: XS_RM#7 OK, 6 debits'), ours.join('\n'));
  t.true(ours.includes('dom0 transaction open: commit: XS_TRANSACTION_END#15 OK, 1 debits'), ours.join('\n'));
  // With no transaction open anywhere, nothing is charged until the guest opens its own.
  const alone = ours.slice(ours.indexOf('dom0 abort: XS_TRANSACTION_END'), ours.findIndex((l) => l.startsWith('dom0 transaction closed: write in the transaction')));
  t.true(alone.length > 10 && alone.every((l) => !l.includes(' debits') || l.endsWith(', 0 debits')), ours.join('\n'));
});

/**
 * The throttling script: CHAINS chains of CHAIN_NODES nodes, one MKDIR each. With a
 * transaction open, each MKDIR costs CHAIN_NODES + 1 writes (each new node, and the home's
 * child list), together more than any guest can ever have: its own burst (10 writes) plus a
 * full reserve (1000). So the guest is held part-way however long the daemons ran before,
 * without waiting for its debt to be paid: it is released while held. Each MKDIR (16 + 481
 * bytes) leaves room in req[] for the next.
 */
const CHAIN_NODES = 240;
const CHAINS = 5;
const CREDIT_WRITES_MAX = 10 + 1000;
const NODES_QUOTA = String(CHAINS * CHAIN_NODES + 100);

/** Put `frames` into req[] one after another as room allows; returns how many went in. */
async function feed(g: RawGuestRing, frames: Buffer[], stopWhen: () => boolean): Promise<number> {
  let n = 0;
  const deadline = Date.now() + REPLY_MS_MAX;
  while (n < frames.length && !stopWhen() && Date.now() < deadline) {
    if (g.room() >= frames[n]!.length) g.put(frames[n++]!);
    else await new Promise((r) => setTimeout(r, 5));
  }
  return n;
}

test.serial('a guest that writes too fast while a transaction is open is throttled, as by C, and not otherwise', async (t) => {
  if (!haveTools(t, ORACLE_SCRIPT, C_XENSTORED, onPath('gcc'))) return;
  t.true(CHAINS * (CHAIN_NODES + 1) > CREDIT_WRITES_MAX + 100);
  const script = async (w: World, log: (line: string) => void): Promise<void> => {
    const { dom0 } = w;
    const domid = 6;
    for (const line of await introduce(dom0, domid)) log(line);
    log(await ask(dom0, T.Control, 'quota', 'set', 'nodes', NODES_QUOTA));
    const g = w.ring(domid);
    const parser = new XsFrameParser();
    const chain = (name: string): string => [name, ...Array.from({ length: CHAIN_NODES - 1 }, () => 'a')].join('/');
    const mkdirs = (firstId: number): Buffer[] => Array.from({ length: CHAINS }, (_, i) => frame(T.Mkdir, firstId + i, 0, strings(chain(`c${i}`))));
    const sleeping = new RegExp(`^wrl: domain ${domid} credit=-\\d+ \\(reserve=-?\\d+\\) SLEEPING for \\d+$`);
    try {
      w.newTrace();
      // No transaction open: nothing is charged and every request is answered.
      await feed(g, mkdirs(1), () => false);
      const replies: string[] = [];
      for (let i = 0; i < CHAINS; i++) replies.push(await nextFrame(g, parser));
      log(`no transaction open: ${replies.join(' | ')}`);
      log(`no transaction open: ${w.newTrace().filter((l) => debitLine(domid).test(l)).length} debits`);
      for (let i = 0; i < CHAINS; i++) log(`clean-up: ${await ask(dom0, T.Rm, `/local/domain/${domid}/c${i}`)}`);
      // A dom0 transaction open: the guest goes into debt part-way and is not read on.
      const { reply } = await dom0.request(T.TransactionStart, strings(''));
      const tx = Number(reply!.payload.toString('latin1').replace(/\0/g, ''));
      const trace: string[] = [];
      const held = (): boolean => {
        trace.push(...w.newTrace());
        return trace.some((l) => sleeping.test(l));
      };
      const fed = await feed(g, mkdirs(10), held);
      const deadline = Date.now() + REPLY_MS_MAX;
      while (!held() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      log(`dom0 transaction open: ${held() ? 'held' : 'never held'} before all ${CHAINS} were read`);
      t.log(`held after ${trace.filter((l) => debitLine(domid).test(l)).length} debits, ${fed} requests put`);
      log(`dom0 abort: ${xsTypeName((await dom0.request(T.TransactionEnd, strings('F'), tx)).reply?.type ?? -1)}`);
      // A guest held for credit can still be released.
      log(await ask(dom0, T.Release, String(domid)));
      log(await ask(dom0, T.IsDomainIntroduced, String(domid)));
      log(await ask(dom0, T.Control, 'quota', 'set', 'nodes', '1000'));
    } finally {
      g.close();
    }
  };
  const ours = await run(await ourWorld(), script);
  const theirs = await run(await cWorld(), script);
  t.deepEqual(ours, theirs);
  t.true(ours.includes(`dom0 transaction open: held before all ${CHAINS} were read`), ours.join('\n'));
  t.true(ours.includes('no transaction open: 0 debits'), ours.join('\n'));
});
