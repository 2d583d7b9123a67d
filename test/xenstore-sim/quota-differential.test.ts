import test from 'ava';
import { existsSync, rmSync } from 'node:fs';
import { XenstoreServer, listenUnix, type UnixListener } from '../../src/xenstore-sim/server/index.js';
import { XsFrameParser } from '../../src/xenstore-sim/wire/parser.js';
import { XsType as T, xsTypeName } from '../../src/xenstore-sim/wire/messages.js';
import { oracleAvailable, shortTempDir, startOracle, type Daemon } from './helpers/daemons.js';
import { frame, RawClient, strings } from './helpers/raw-client.js';
import { oracleRing, PageGuests, settle, type RawGuestRing } from './helpers/raw-ring.js';
import { C_XENSTORED, haveTools, onPath, ORACLE_SCRIPT } from './helpers/tools.js';
import { REQ_CONS, RSP_PROD } from './helpers/xs-ring-offsets.js';

/*
 * The quotas that decide whether the daemon reads a guest's requests at all (C 4.17's
 * domain_can_read(): outstanding replies, hard memory quota), compared with the real C
 * xenstored by what the guest sees in its ring page: how far req_cons moved, what arrived in
 * rsp[], and dom0's "quota <domid>" report. The guest writes requests into req[] by hand and
 * reads rsp[] only when the script says so. Ours runs in-process over real DaemonRingStreams
 * on plain memory pages; C over the oracle's ring files.
 */

let oracle: Daemon | undefined;
let dir: string | undefined;
let listener: UnixListener | undefined;
const guests = new PageGuests();

test.before(async () => {
  if (!oracleAvailable() || !existsSync(onPath('gcc'))) return;
  dir = shortTempDir('xsq.');
  listener = await listenUnix(new XenstoreServer({ guests }), `${dir}/socket`);
  oracle = await startOracle(['-T', '']);
});

test.after.always(async () => {
  await listener?.close();
  await oracle?.stop();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

/** One daemon as a script sees it: dom0 on the socket, and each introduced guest's page. */
interface World {
  dom0: RawClient;
  ring(domid: number): RawGuestRing;
}

async function ourWorld(): Promise<World> {
  return { dom0: await RawClient.unix(listener!.path), ring: (domid) => guests.ring(domid) };
}

async function cWorld(): Promise<World> {
  return { dom0: await RawClient.unix(oracle!.socket), ring: (domid) => oracleRing(`${oracle!.dir}/fx`, domid) };
}

/** Run `script` on both daemons (by default the shared pair) and return both logs. */
async function both(script: (w: World, log: (line: string) => void) => Promise<void>, worlds: [() => Promise<World>, () => Promise<World>] = [ourWorld, cWorld]): Promise<[string[], string[]]> {
  const run = async (world: World): Promise<string[]> => {
    const lines: string[] = [];
    try {
      await script(world, (line) => lines.push(line));
    } finally {
      world.dom0.close();
    }
    return lines;
  };
  return [await run(await worlds[0]()), await run(await worlds[1]())];
}

async function ask(dom0: RawClient, type: number, ...args: string[]): Promise<string> {
  const { reply } = await dom0.request(type, strings(...args));
  return reply === undefined ? '(no reply)' : `${xsTypeName(reply.type)} ${JSON.stringify(reply.payload.toString('latin1'))}`;
}

async function askRaw(dom0: RawClient, type: number, payload: Buffer): Promise<string> {
  const { reply } = await dom0.request(type, payload);
  return reply === undefined ? '(no reply)' : `${xsTypeName(reply.type)} ${JSON.stringify(reply.payload.toString('latin1'))}`;
}

/** "quota <domid>" reduced to the counters that matter here. */
async function usage(dom0: RawClient, domid: number): Promise<string> {
  const text = await ask(dom0, T.Control, 'quota', String(domid));
  return text.replace(/\\n/g, ' ').replace(/ +/g, ' ');
}

/** A home owned by the guest, then INTRODUCE. */
async function introduce(dom0: RawClient, domid: number): Promise<string[]> {
  return [
    await ask(dom0, T.Mkdir, `/local/domain/${domid}`),
    await ask(dom0, T.SetPerms, `/local/domain/${domid}`, `n${domid}`),
    await ask(dom0, T.Introduce, String(domid), '0', String(1000 + domid)),
  ];
}

/** `count` requests of one kind, request ids from `firstId`. */
function requests(count: number, firstId: number, type: number, payload: Buffer): Buffer {
  return Buffer.concat(Array.from({ length: count }, (_, i) => frame(type, firstId + i, 0, payload)));
}

/** What the guest finds in rsp[]: each frame's type, request id and payload (a partial frame is shown as such). */
function frames(bytes: Buffer, parser: XsFrameParser): string[] {
  parser.push(bytes);
  const out: string[] = [];
  for (let p = parser.nextPacket(); p !== undefined; p = parser.nextPacket()) out.push(`${xsTypeName(p.type)}#${p.reqId} ${JSON.stringify(p.payload.toString('latin1'))}`);
  if (parser.pending > 0) out.push(`(${parser.pending} bytes of a frame)`);
  return out;
}

const DEFAULT_OUTSTANDING = '20';
const DEFAULT_MEMORY = '2621440';

test.serial('a guest that does not take its replies is read up to the outstanding quota, as by C', async (t) => {
  if (!haveTools(t, ORACLE_SCRIPT, C_XENSTORED, onPath('gcc'))) return;
  const [ours, theirs] = await both(async ({ dom0, ring }, log) => {
    for (const line of await introduce(dom0, 5)) log(line);
    const g = ring(5);
    const parser = new XsFrameParser();
    try {
      // 56 GET_DOMAIN_PATH requests (18 bytes each) fill req[]; each 32-byte reply fits rsp[] 32 times.
      g.put(requests(56, 1, T.GetDomainPath, strings('5')));
      log(`after 56 requests: ${JSON.stringify(await settle(g))}`);
      log(await usage(dom0, 5));
      log(`took ${frames(g.take(200), parser).join(' | ')}`);
      log(`after taking 200 bytes: ${JSON.stringify(await settle(g))}`);
      log(await usage(dom0, 5));
      for (let round = 0; round < 4; round++) {
        log(`took ${frames(g.take(), parser).length} frames`);
        log(`round ${round}: ${JSON.stringify(await settle(g))}`);
        log(await usage(dom0, 5));
      }
      // The quota changed while the guest waits: C reads on at once, without a kick from it.
      log(await ask(dom0, T.Control, 'quota', 'set', 'outstanding', '2'));
      g.put(requests(10, 100, T.GetDomainPath, strings('5')));
      log(`quota 2, 10 more requests: ${JSON.stringify(await settle(g))}`);
      log(await usage(dom0, 5));
      log(`took ${frames(g.take(), parser).join(' | ')}`);
      log(`after taking them: ${JSON.stringify(await settle(g))}`);
      log(await ask(dom0, T.Control, 'quota', 'set', 'outstanding', '0'));
      log(`took ${frames(g.take(), parser).length} frames`);
      log(`quota 0 refused: ${JSON.stringify(await settle(g))}`);
      log(await ask(dom0, T.Control, 'quota', 'set', 'outstanding', DEFAULT_OUTSTANDING));
      log(`quota back: ${JSON.stringify(await settle(g))}`);
      log(`took ${frames(g.take(), parser).join(' | ')}`);
      log(await usage(dom0, 5));
      // A stalled guest does not hold up dom0; RELEASE of it works.
      g.put(requests(40, 200, T.GetDomainPath, strings('5')));
      log(`stalled again: ${JSON.stringify(await settle(g))}`);
      log(await askRaw(dom0, T.Write, Buffer.from('/dom0/still\0works')));
      log(await ask(dom0, T.Release, '5'));
      log(await ask(dom0, T.IsDomainIntroduced, '5'));
      log(await ask(dom0, T.Read, '/dom0/still'));
    } finally {
      g.close();
    }
  });
  t.deepEqual(ours, theirs);
  t.true(ours.some((l) => l.includes('outstanding : 20')), ours.join('\n'));
});

test.serial('a guest at its memory quota is not read until the quota allows it, as by C', async (t) => {
  if (!haveTools(t, ORACLE_SCRIPT, C_XENSTORED, onPath('gcc'))) return;
  const [ours, theirs] = await both(async ({ dom0, ring }, log) => {
    for (const line of await introduce(dom0, 6)) log(line);
    log(await askRaw(dom0, T.Write, Buffer.from(`/pub6\0${'x'.repeat(100)}`)));
    log(await ask(dom0, T.SetPerms, '/pub6', 'n0', 'r6'));
    const g = ring(6);
    const parser = new XsFrameParser();
    try {
      log(await usage(dom0, 6));
      // The home costs 47 bytes: a quota of 47 is reached already.
      log(await ask(dom0, T.Control, 'quota', 'set', 'memory', '47'));
      g.put(requests(3, 1, T.GetDomainPath, strings('6')));
      log(`at the quota: ${JSON.stringify(await settle(g))}`);
      log(await askRaw(dom0, T.Write, Buffer.from('/dom0/other\0v')));
      log(`dom0 busy meanwhile: ${JSON.stringify(await settle(g))}`);
      log(await ask(dom0, T.Control, 'quota', 'set', 'memory', '48'));
      log(`one byte more: ${JSON.stringify(await settle(g))}`);
      log(`took ${frames(g.take(), parser).join(' | ')}`);
      // Replies over 16 bytes are checked against the quota: ENOMEM instead of the value.
      log(await ask(dom0, T.Control, 'quota', 'set', 'memory', '150'));
      g.put(Buffer.concat([frame(T.Read, 10, 0, strings('/pub6')), frame(T.GetDomainPath, 11, 0, strings('6'))]));
      await settle(g);
      log(`took ${frames(g.take(), parser).join(' | ')}`);
      log(await ask(dom0, T.Control, 'quota', 'set', 'memory', '164'));
      g.put(frame(T.Read, 12, 0, strings('/pub6')));
      await settle(g);
      log(`took ${frames(g.take(), parser).join(' | ')}`);
      // Held with requests in its ring, then released by dom0.
      log(await ask(dom0, T.Control, 'quota', 'set', 'memory', '10'));
      g.put(requests(5, 20, T.GetDomainPath, strings('6')));
      log(`held: ${JSON.stringify(await settle(g))}`);
      log(await ask(dom0, T.Release, '6'));
      log(await ask(dom0, T.Control, 'quota', 'set', 'memory', DEFAULT_MEMORY));
      log(await ask(dom0, T.IsDomainIntroduced, '6'));
      log(await ask(dom0, T.Read, '/dom0/other'));
    } finally {
      log(await ask(dom0, T.Control, 'quota', 'set', 'memory', DEFAULT_MEMORY));
      g.close();
    }
  });
  t.deepEqual(ours, theirs);
  t.true(ours.some((l) => l.includes('ENOMEM')), ours.join('\n'));
});

test.serial('watch events to a guest that does not read: queued, merged, charged and holding the writer, as in C', async (t) => {
  if (!haveTools(t, ORACLE_SCRIPT, C_XENSTORED, onPath('gcc'))) return;
  const [ours, theirs] = await both(async ({ dom0, ring }, log) => {
    for (const line of await introduce(dom0, 7)) log(line);
    for (const line of await introduce(dom0, 8)) log(line);
    log(await askRaw(dom0, T.Write, Buffer.from('/pub7\0x')));
    log(await ask(dom0, T.SetPerms, '/pub7', 'n7', 'r8'));
    const a = ring(7);
    const b = ring(8);
    const aFrames = new XsFrameParser();
    const bFrames = new XsFrameParser();
    const state = async (label: string): Promise<void> => {
      await settle(b);
      log(`${label}: writer ${JSON.stringify(await settle(a))} watcher ${JSON.stringify(b.indices())}`);
      log(await usage(dom0, 7));
      log(await usage(dom0, 8));
    };
    try {
      b.put(frame(T.Watch, 1, 0, strings('/pub7', 'tok')));
      await settle(b);
      log(`watcher took ${frames(b.take(), bFrames).join(' | ')}`);
      // The same event 42 times: rsp[] holds 39 and a piece; the rest equal a queued one.
      a.put(Buffer.concat(Array.from({ length: 42 }, (_, i) => frame(T.Write, 10 + i, 0, Buffer.from(`/pub7\0${String(i).padStart(2, '0')}`)))));
      await state('same event 42 times');
      log(`writer took ${frames(a.take(), aFrames).length} frames`);
      // Distinct events queue up; each keeps its request outstanding until it is written,
      // so the writer stops being read at 20 of them.
      a.put(Buffer.concat(Array.from({ length: 37 }, (_, i) => frame(T.Write, 100 + i, 0, Buffer.from(`/pub7/k${String(i).padStart(2, '0')}\0v`)))));
      await state('37 distinct events');
      for (let round = 0; round < 3; round++) {
        log(`watcher took ${frames(b.take(), bFrames).length} frames`);
        await state(`watcher read, round ${round}`);
      }
      log(`writer took ${frames(a.take(), aFrames).length} frames`);
      // An event that would take the watcher to its memory quota is dropped.
      log(await ask(dom0, T.Control, 'quota', 'set', 'memory', '70'));
      log(await askRaw(dom0, T.Write, Buffer.from('/pub7/late\0v')));
      log(await askRaw(dom0, T.Write, Buffer.from('/pub7/k\0v')));
      await state('watcher near its memory quota');
      log(await ask(dom0, T.Control, 'quota', 'set', 'memory', DEFAULT_MEMORY));
      log(`watcher took ${frames(b.take(), bFrames).join(' | ')}`);
      log(await ask(dom0, T.Release, '8'));
      log(await ask(dom0, T.Release, '7'));
    } finally {
      log(await ask(dom0, T.Control, 'quota', 'set', 'memory', DEFAULT_MEMORY));
      a.close();
      b.close();
    }
  });
  t.deepEqual(ours, theirs);
  t.true(ours.some((l) => l.includes('outstanding : 20')), ours.join('\n'));
});

test.serial('watch events that wait too long for room in a guest ring are dropped, as with C -w watch-event', async (t) => {
  if (!haveTools(t, ORACLE_SCRIPT, C_XENSTORED, onPath('gcc'))) return;
  // A pair of its own, both with a 1-second timeout.
  const ownDir = shortTempDir('xst.');
  const ownGuests = new PageGuests();
  const ownListener = await listenUnix(new XenstoreServer({ guests: ownGuests, watchEventTimeoutMs: 1000 }), `${ownDir}/socket`);
  const ownOracle = await startOracle(['-T', '', '-w', 'watch-event=1']);
  try {
    const [ours, theirs] = await both(async ({ dom0, ring }, log) => {
      for (const line of await introduce(dom0, 13)) log(line);
      log(await askRaw(dom0, T.Write, Buffer.from('/w13\0x')));
      log(await ask(dom0, T.SetPerms, '/w13', 'n0', 'r13'));
      const g = ring(13);
      const parser = new XsFrameParser();
      try {
        g.put(frame(T.Watch, 1, 0, strings('/w13', 'tok')));
        await settle(g);
        log(`took ${frames(g.take(), parser).join(' | ')}`);
        // 60 distinct events: rsp[] takes the first ones and a piece of the next; the rest wait.
        for (let i = 0; i < 60; i++) await askRaw(dom0, T.Write, Buffer.from(`/w13/k${String(i).padStart(2, '0')}\0v`));
        log(`ring full: ${JSON.stringify(await settle(g))}`);
        log(await usage(dom0, 13));
        await new Promise((resolve) => setTimeout(resolve, 1600));
        log(await askRaw(dom0, T.Write, Buffer.from('/w13/late\0v')));
        log(await usage(dom0, 13));
        for (let round = 0; round < 3; round++) {
          log(`took ${frames(g.take(), parser).join(' | ')}`);
          log(`round ${round}: ${JSON.stringify(await settle(g))}`);
        }
        log(await usage(dom0, 13));
        log(await ask(dom0, T.Release, '13'));
      } finally {
        g.close();
      }
    }, [
      async () => ({ dom0: await RawClient.unix(ownListener.path), ring: (domid) => ownGuests.ring(domid) }),
      async () => ({ dom0: await RawClient.unix(ownOracle.socket), ring: (domid) => oracleRing(`${ownOracle.dir}/fx`, domid) }),
    ]);
    t.deepEqual(ours, theirs);
    t.true(ours.some((l) => l.includes('/w13/late')) && !ours.some((l) => l.includes('/w13/k59')), ours.join('\n'));
  } finally {
    await ownListener.close();
    await ownOracle.stop();
    rmSync(ownDir, { recursive: true, force: true });
  }
});

test.serial('the ring page words a guest sees: no features advertised, RINGIDX on garbage indices, as by C', async (t) => {
  if (!haveTools(t, ORACLE_SCRIPT, C_XENSTORED, onPath('gcc'))) return;
  const [ours, theirs] = await both(async ({ dom0, ring }, log) => {
    for (const line of await introduce(dom0, 14)) log(line);
    const g = ring(14);
    try {
      log(`introduced: ${JSON.stringify(g.controlWords())}`);
      g.put(frame(T.GetDomainPath, 1, 0, strings('14')));
      log(`served: ${JSON.stringify(await settle(g))} ${frames(g.take(), new XsFrameParser()).join(' | ')}`);
      // req_prod more than a ring ahead of req_cons: C stops serving the guest (ignore_connection()).
      g.setReqProd(5000);
      await settle(g);
      log(`garbage req_prod: ${JSON.stringify(g.controlWords())} req_cons ${g.indices().reqCons}`);
      log(await ask(dom0, T.IsDomainIntroduced, '14'));
      log(await ask(dom0, T.Release, '14'));
    } finally {
      g.close();
    }
  });
  t.deepEqual(ours, theirs);
  t.true(ours.some((l) => l.includes('"error":2')), ours.join('\n'));
});

test.serial('INTRODUCE again resets the ring indices and forgets queued output, as C does', async (t) => {
  if (!haveTools(t, ORACLE_SCRIPT, C_XENSTORED, onPath('gcc'))) return;
  const [ours, theirs] = await both(async ({ dom0, ring }, log) => {
    for (const line of await introduce(dom0, 15)) log(line);
    log(await askRaw(dom0, T.Write, Buffer.from('/w15\0x')));
    log(await ask(dom0, T.SetPerms, '/w15', 'n0', 'r15'));
    const g = ring(15);
    const parser = new XsFrameParser();
    try {
      g.put(frame(T.Watch, 1, 0, strings('/w15', 'tok')));
      await settle(g);
      log(`took ${frames(g.take(), parser).join(' | ')}`);
      // Fill rsp[] with events and leave some queued, then INTRODUCE the domain again.
      for (let i = 0; i < 45; i++) await askRaw(dom0, T.Write, Buffer.from(`/w15/k${String(i).padStart(2, '0')}\0v`));
      log(`before: ${JSON.stringify(await settle(g))}`);
      log(await usage(dom0, 15));
      log(await ask(dom0, T.Introduce, '15', '0', '1015'));
      log(`after: ${JSON.stringify(await settle(g))}`);
      log(await usage(dom0, 15));
      // The watch went with the reset: a change fires nothing; the ring serves requests from 0.
      log(await askRaw(dom0, T.Write, Buffer.from('/w15\0y')));
      g.put(frame(T.GetDomainPath, 2, 0, strings('15')));
      log(`served: ${JSON.stringify(await settle(g))} ${frames(g.take(), new XsFrameParser()).join(' | ')}`);
      log(await ask(dom0, T.Release, '15'));
    } finally {
      g.close();
    }
  });
  t.deepEqual(ours, theirs);
});

test.serial('a guest frame over XENSTORE_PAYLOAD_MAX, a RECONNECT request and an unknown type: the page as C leaves it', async (t) => {
  if (!haveTools(t, ORACLE_SCRIPT, C_XENSTORED, onPath('gcc'))) return;
  const [ours, theirs] = await both(async ({ dom0, ring }, log) => {
    const cases: [number, string, (g: RawGuestRing) => void][] = [
      // C reads the header, sees the length and stops serving the guest with XENSTORE_ERROR_PROTO.
      [16, 'length 5000', (g) => {
        const header = frame(T.Read, 1, 0, Buffer.alloc(0));
        header.writeUInt32LE(5000, 12); // xsd_sockmsg.len
        g.put(header);
      }],
      // C 4.17 has no reconnection handshake: connection = XENSTORE_RECONNECT stays as the guest set it.
      [17, 'XENSTORE_RECONNECT', (g) => g.setConnection(1)],
      [18, 'unknown type 99', (g) => g.put(frame(99, 1, 0, strings('x')))],
    ];
    for (const [domid, label, act] of cases) {
      for (const line of await introduce(dom0, domid)) log(line);
      const g = ring(domid);
      try {
        act(g);
        log(`${label}: ${JSON.stringify(await settle(g))} ${JSON.stringify(g.controlWords())} ${frames(g.take(), new XsFrameParser()).join(' | ')}`);
        log(await ask(dom0, T.IsDomainIntroduced, String(domid)));
        log(await ask(dom0, T.Release, String(domid)));
      } finally {
        g.close();
      }
    }
  });
  t.deepEqual(ours, theirs);
});

test.serial('a guest that moves the daemon own indices (req_cons, rsp_prod): the page as C leaves it', async (t) => {
  if (!haveTools(t, ORACLE_SCRIPT, C_XENSTORED, onPath('gcc'))) return;
  const [ours, theirs] = await both(async ({ dom0, ring }, log) => {
    const cases: [number, string, (g: RawGuestRing) => void][] = [
      // Within a ring of req_prod: C reads req_cons from the page each time, so it reads the
      // last request's bytes again.
      [19, 'req_cons moved back over the last request', (g) => g.setWord(REQ_CONS, g.indices().reqCons - 19)],
      // More than a ring from rsp_cons: C's next write into rsp[] finds the indices impossible.
      [20, 'rsp_prod far ahead', (g) => g.setWord(RSP_PROD, g.indices().rspCons + 5000)],
      // Behind rsp_cons but within a ring: C trusts it and writes where it says.
      [21, 'rsp_prod moved back', (g) => g.setWord(RSP_PROD, g.indices().rspProd - 10)],
    ];
    for (const [domid, label, act] of cases) {
      for (const line of await introduce(dom0, domid)) log(line);
      const g = ring(domid);
      const parser = new XsFrameParser();
      try {
        g.put(frame(T.GetDomainPath, 1, 0, strings(String(domid))));
        log(`${label}, first: ${JSON.stringify(await settle(g))} ${frames(g.take(), parser).join(' | ')}`);
        act(g);
        g.put(frame(T.GetDomainPath, 2, 0, strings(String(domid))));
        log(`${label}, then: ${JSON.stringify(await settle(g))} ${JSON.stringify(g.controlWords())}`);
        log(await ask(dom0, T.IsDomainIntroduced, String(domid)));
        log(await ask(dom0, T.Release, String(domid)));
      } finally {
        g.close();
      }
    }
  });
  t.deepEqual(ours, theirs);
});
