import test from 'ava';
import { connect } from 'node:net';
import { XenstoreServer } from '../../src/xenstore-sim/server/index.js';
import type { ByteStream } from '../../src/xenstore-sim/server/stream.js';
import { XsType as T } from '../../src/xenstore-sim/wire/messages.js';
import { startSim, type Daemon } from './helpers/daemons.js';
import { frame, RawClient, strings } from './helpers/raw-client.js';
import { PageGuests, settle } from './helpers/raw-ring.js';

/*
 * Hostile clients: malformed frames, lying lengths, floods. The daemon must answer each with
 * the right error or close only that connection, and keep serving everyone else.
 */
let sim: Daemon;

test.before(async () => {
  sim = await startSim();
});

test.after.always(async () => {
  await sim?.stop();
});

async function alive(t: { is: (a: unknown, b: unknown, m?: string) => void }, socket: string): Promise<void> {
  const c = await RawClient.unix(socket);
  const { reply } = await c.request(T.Write, Buffer.from('/alive\0yes'));
  t.is(reply?.payload.toString('latin1'), 'OK\0', 'another connection still works');
  c.close();
}

/** Raw bytes on a fresh socket, then wait until the daemon closes it or `ms` pass. */
async function sendAndWait(socket: string, bytes: Buffer, ms: number): Promise<{ closedByPeer: boolean; received: Buffer }> {
  const s = connect(socket);
  const chunks: Buffer[] = [];
  s.on('data', (d) => chunks.push(d));
  s.on('error', () => {});
  await new Promise((r) => s.once('connect', r));
  s.write(bytes);
  const closedByPeer = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    s.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
  s.destroy();
  return { closedByPeer, received: Buffer.concat(chunks) };
}

test('a short header, then the client hangs up', async (t) => {
  const s = connect(sim.socket);
  s.on('error', () => {});
  await new Promise((r) => s.once('connect', r));
  s.end(Buffer.from([2, 0, 0, 0, 1, 0]));
  await alive(t, sim.socket);
});

test('a length over 4096 closes that connection only', async (t) => {
  const header = frame(T.Read, 1, 0, Buffer.alloc(0));
  header.writeUInt32LE(4097, 12);
  const { closedByPeer, received } = await sendAndWait(sim.socket, header, 5000);
  t.true(closedByPeer);
  t.is(received.length, 0);
  await alive(t, sim.socket);
});

test('a lying length: the daemon waits for the rest, then the client leaves', async (t) => {
  const lying = frame(T.Read, 1, 0, strings('/a'));
  lying.writeUInt32LE(100, 12);
  const { closedByPeer } = await sendAndWait(sim.socket, lying, 100);
  t.false(closedByPeer);
  await alive(t, sim.socket);
});

test('unterminated strings, bad permissions, junk types get errors, not crashes', async (t) => {
  const c = await RawClient.unix(sim.socket);
  const ask = async (type: number, payload: Buffer, txId = 0) => (await c.request(type, payload, txId)).reply?.payload.toString('latin1');
  t.is(await ask(T.Read, Buffer.from('/unterminated')), 'EINVAL\0');
  t.is(await ask(T.Write, Buffer.from('/no-value-separator')), 'EINVAL\0');
  t.is(await ask(T.Watch, Buffer.from('/w\0tok')), 'EINVAL\0');
  t.is(await ask(T.SetPerms, strings('/', 'z0')), 'EINVAL\0');
  t.is(await ask(T.SetPerms, strings('/', 'r')), 'EINVAL\0');
  // strtol saturates and the id wraps into an unsigned int, as in C: accepted.
  t.is(await ask(T.SetPerms, strings('/', 'n0', 'r99999999999999999999')), 'OK\0');
  t.is(await ask(T.SetPerms, strings('/', 'r0x')), 'EINVAL\0');
  t.is(await ask(T.GetPerms, Buffer.from([0xff, 0xfe, 0])), 'EINVAL\0');
  t.is(await ask(0xffffffff, Buffer.alloc(0)), 'ENOSYS\0');
  t.is(await ask(T.Read, strings('/'), 0xffffffff), 'ENOENT\0');
  t.is(await ask(T.Introduce, strings('1', '2')), 'EINVAL\0');
  t.is(await ask(T.DirectoryPart, strings('/')), 'EINVAL\0');
  c.close();
  await alive(t, sim.socket);
});

test('floods over the socket: watches, transactions, large values', async (t) => {
  const c = await RawClient.unix(sim.socket);
  for (let i = 0; i < 500; i++) c.send(T.Watch, strings(`/flood/w${i}`, 'tok'));
  for (let i = 0; i < 200; i++) c.send(T.TransactionStart, strings(''));
  const big = Buffer.alloc(4000, 0x41);
  for (let i = 0; i < 200; i++) c.send(T.Write, Buffer.concat([Buffer.from(`/flood/v${i}\0`), big]));
  const { reply } = await c.request(T.Read, strings('/flood/v199'));
  t.is(reply?.payload.length, 4000);
  c.close();
  await alive(t, sim.socket);
});

test('seeded garbage never kills the daemon', async (t) => {
  const seed = Number(process.env.XS_FUZZ_SEED ?? 0x5eed);
  t.log(`seed ${seed} (XS_FUZZ_SEED to replay)`);
  let state = seed >>> 0;
  const rand = (): number => {
    // xorshift32: deterministic per seed.
    state ^= state << 13; state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5; state >>>= 0;
    return state;
  };
  for (let round = 0; round < 20; round++) {
    const frames: Buffer[] = [];
    for (let i = 0; i < 20; i++) {
      const len = rand() % 64;
      const payload = Buffer.alloc(len);
      for (let j = 0; j < len; j++) payload[j] = [0, 0x2f, 0x61, 0x40, rand() & 0xff][rand() % 5]!;
      frames.push(frame(rand() % 26, rand(), rand() % 3, payload));
    }
    await sendAndWait(sim.socket, Buffer.concat(frames), 20);
  }
  await alive(t, sim.socket);
});

/** An in-process server, for guest connections (unprivileged) without a hypervisor. */
function inProcessGuest(server: XenstoreServer, domid: number): RawClient {
  const stream: ByteStream = server.connectInProcess(domid);
  const client = new RawClient((buf) => stream.write(buf), () => stream.close());
  stream.onData((chunk) => client.receive(chunk));
  stream.onClose(() => client.markClosed());
  return client;
}

test('guest floods hit the quotas with C\'s errors; dom0 is unaffected', async (t) => {
  const server = new XenstoreServer({ quotas: { watchesMax: 8, transactionsMax: 3, nodesMax: 20 } });
  const dom0 = inProcessGuest(server, 0);
  await dom0.request(T.Mkdir, strings('/local/domain/5'));
  await dom0.request(T.SetPerms, strings('/local/domain/5', 'n5'));
  const g = inProcessGuest(server, 5);
  const replies: string[] = [];
  for (let i = 0; i < 10; i++) replies.push((await g.request(T.Watch, strings(`w${i}`, 't'))).reply!.payload.toString('latin1'));
  // C lets a guest hold one watch more than the quota.
  t.deepEqual(replies.slice(7), ['OK\0', 'OK\0', 'E2BIG\0']);
  const tx: string[] = [];
  for (let i = 0; i < 6; i++) tx.push((await g.request(T.TransactionStart, strings(''))).reply!.payload.toString('latin1'));
  // C lets a guest open one more than the quota before ENOSPC.
  t.deepEqual(tx.slice(3), ['4\0', 'ENOSPC\0', 'ENOSPC\0']);
  const writes: string[] = [];
  for (let i = 0; i < 25; i++) writes.push((await g.request(T.Write, Buffer.from(`n${i}\0v`))).reply!.payload.toString('latin1'));
  t.is(writes.filter((w) => w === 'OK\0').length, 19);
  t.is(writes[24], 'ENOSPC\0');
  t.is((await g.request(T.Write, Buffer.concat([Buffer.from('big\0'), Buffer.alloc(3000)]))).reply!.payload.toString('latin1'), 'ENOSPC\0');
  t.is((await g.request(T.Control, strings('print', 'x'))).reply!.payload.toString('latin1'), 'EACCES\0');
  t.is((await g.request(T.Introduce, strings('6', '0', '1'))).reply!.payload.toString('latin1'), 'EACCES\0');
  t.is((await dom0.request(T.Write, Buffer.from('/dom0/free\0v'))).reply!.payload.toString('latin1'), 'OK\0');
  g.close();
  dom0.close();
  server.close();
});

test('a guest that never reads loses watch events, not the daemon\'s memory', async (t) => {
  const server = new XenstoreServer({ quotas: { eventQueueBytesMax: 1024 } });
  let pending = 0;
  let deliver: (chunk: Buffer) => void = () => {};
  const sink: ByteStream = {
    write(buf) { pending += buf.length; },
    onData(cb) { deliver = cb; },
    onClose() {},
    close() {},
    pendingBytes: () => pending,
  };
  const conn = server.addConnection(sink, { domid: 5, privileged: false });
  const dom0 = inProcessGuest(server, 0);
  await dom0.request(T.Mkdir, strings('/local/domain/5'));
  await dom0.request(T.SetPerms, strings('/local/domain/5', 'b5'));
  // The guest watches its home, then never reads; dom0 writes there many times.
  deliver(frame(T.Watch, 1, 0, strings('/local/domain/5', 'tok')));
  for (let i = 0; i < 200; i++) await dom0.request(T.Write, Buffer.from(`/local/domain/5/k\0${i}`));
  t.true(pending < 1024 + 200, `backlog ${pending} stays bounded`);
  t.true(conn.eventsDropped > 150);
  dom0.close();
  server.close();
});

/** A guest's home, then INTRODUCE through dom0 on an in-process server. */
async function introduceGuest(dom0: RawClient, domid: number): Promise<void> {
  await dom0.request(T.Mkdir, strings(`/local/domain/${domid}`));
  await dom0.request(T.SetPerms, strings(`/local/domain/${domid}`, `n${domid}`));
  const { reply } = await dom0.request(T.Introduce, strings(String(domid), '0', String(1000 + domid)));
  if (reply?.payload.toString('latin1') !== 'OK\0') throw new Error(`INTRODUCE ${domid} failed`);
}

const usageOf = async (dom0: RawClient, domid: number): Promise<Record<string, number>> => {
  const text = (await dom0.request(T.Control, strings('quota', String(domid)))).reply!.payload.toString('latin1');
  return Object.fromEntries([...text.matchAll(/(\w+)\s+:\s+(\d+)/g)].map((m) => [m[1]!, Number(m[2])]));
};

test('a guest that never takes its replies stalls alone; dom0, RELEASE and a broken ring are handled', async (t) => {
  const guests = new PageGuests();
  const server = new XenstoreServer({ guests });
  const dom0 = inProcessGuest(server, 0);
  await introduceGuest(dom0, 5);
  const g = guests.ring(5);
  // 56 requests: 32 replies fill rsp[], 20 wait in the daemon, the last 4 stay unread in req[].
  g.put(Buffer.concat(Array.from({ length: 56 }, (_, i) => frame(T.GetDomainPath, i, 0, strings('5')))));
  t.like(await settle(g), { reqCons: 52 * 18, reqProd: 56 * 18, rspProd: 1024 });
  t.like(await usageOf(dom0, 5), { outstanding: 20 });
  g.put(frame(T.GetDomainPath, 99, 0, strings('5')));
  t.like(await settle(g), { reqCons: 52 * 18 });
  t.is((await dom0.request(T.Write, Buffer.from('/dom0/ok\0yes'))).reply?.payload.toString('latin1'), 'OK\0');
  // An impossible rsp_cons while replies wait: the ring breaks, the domain stays until released.
  g.setRspCons(0x80000000);
  await settle(g);
  t.like(await usageOf(dom0, 5), { outstanding: 0 });
  t.is((await dom0.request(T.Release, strings('5'))).reply?.payload.toString('latin1'), 'OK\0');
  t.is((await dom0.request(T.Read, strings('/dom0/ok'))).reply?.payload.toString('latin1'), 'yes');
  dom0.close();
  server.close();
});

test('with the memory and outstanding quotas off, a guest\'s backlog in the daemon is still bounded', async (t) => {
  const guests = new PageGuests();
  const server = new XenstoreServer({ guests, quotas: { memoryBytesMax: 0, outstandingMax: 0x7fffffff } });
  const dom0 = inProcessGuest(server, 0);
  await introduceGuest(dom0, 6);
  await dom0.request(T.Write, Buffer.concat([Buffer.from('/big\0'), Buffer.alloc(4000, 0x61)]));
  await dom0.request(T.SetPerms, strings('/big', 'n0', 'r6'));
  const g = guests.ring(6);
  // READ /big, 21 bytes each, answered with 4016: keep req[] full until the daemon stops reading.
  let read = -1;
  for (let round = 0; round < 40; round++) {
    const { reqCons } = await settle(g, 30);
    if (reqCons === read) break;
    read = reqCons;
    const room = Math.floor(g.room() / 21);
    if (room > 0) g.put(Buffer.concat(Array.from({ length: room }, (_, i) => frame(T.Read, i, 0, strings('/big')))));
  }
  const { memory, outstanding } = await usageOf(dom0, 6);
  t.true(outstanding > 200 && outstanding < 300, `outstanding ${outstanding}`);
  // The queued replies are charged to the guest: about 1 MiB, never much more.
  t.true(memory > 1 << 20 && memory < (1 << 20) + 8192, `memory ${memory}`);
  t.is((await dom0.request(T.Release, strings('6'))).reply?.payload.toString('latin1'), 'OK\0');
  // Released: its queue and its memory are gone (C then knows no such domain).
  t.is((await dom0.request(T.Control, strings('quota', '6'))).reply?.payload.toString('latin1'), 'ENOENT\0');
  dom0.close();
  server.close();
});
