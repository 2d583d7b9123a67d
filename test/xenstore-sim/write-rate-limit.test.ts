import test from 'ava';
import { SYSTEM_CLOCK, XenstoreServer, type ByteStream } from '../../src/xenstore-sim/server/index.js';
import {
  WRL_DOMAIN_BURST, WRL_GLOBAL_BURST, WRL_NEW_DOMAINS_BURST, WRL_WRITE_COST, WriteRateLimit, xfer,
} from '../../src/xenstore-sim/server/write-rate-limit.js';
import { XsFrameParser } from '../../src/xenstore-sim/wire/parser.js';
import { XsType as T, xsTypeName } from '../../src/xenstore-sim/wire/messages.js';
import { frame, RawClient, strings } from './helpers/raw-client.js';
import { PageGuests, settle } from './helpers/raw-ring.js';

/*
 * C 4.17's wrl arithmetic (xenstored_domain.c) on a clock the test moves by hand. The expected
 * figures are worked out from C's formulas: a domain earns msec * 200000 / (ndomains * 1000)
 * credit units (integer division), keeps at most 10000, gives the rest to a reserve of at most
 * 1000000, and a write costs 1000.
 */

function limiter(): { wrl: WriteRateLimit; clock: { ms: number }; trace: string[] } {
  const clock = { ms: 5000 };
  const wrl = new WriteRateLimit({ nowMs: () => clock.ms });
  const trace: string[] = [];
  wrl.trace = (line) => trace.push(line);
  return { wrl, clock, trace };
}

test('wrl_xfer_credit moves as much as both bounds allow, and nothing past a bound', (t) => {
  t.is(xfer(100, 0, 0, 50), 50);
  t.is(xfer(30, 0, 0, 50), 30);
  t.is(xfer(-5, 0, 0, 50), 0);
  t.is(xfer(100, 0, 60, 50), 0);
  t.is(xfer(0, -50, 0, 10), 10);
});

test('new domains borrow a burst from the reserve, which may go into debt for five of them', (t) => {
  const { wrl } = limiter();
  const dom0 = wrl.addDomain(0);
  t.is(dom0.credit, WRL_DOMAIN_BURST);
  t.is(wrl.reserve, -WRL_DOMAIN_BURST);
  const guests = [1, 2, 3, 4, 5].map((domid) => wrl.addDomain(domid));
  t.deepEqual(guests.map((g) => g.credit), [10000, 10000, 10000, 10000, 0]);
  t.is(wrl.reserve, -WRL_NEW_DOMAINS_BURST);
  t.is(wrl.domainCount, 6);
});

test('idle domains earn their share, keep a burst and fill the reserve up to its bound', (t) => {
  const { wrl, clock, trace } = limiter();
  const dom0 = wrl.addDomain(0);
  const guest = wrl.addDomain(5);
  t.is(wrl.reserve, -20000);
  clock.ms += 1;
  wrl.updateAll(clock.ms);
  // 1 ms at half the rate each: 100 units, over the burst, so to the reserve.
  t.is(wrl.reserve, -19800);
  t.is(guest.credit, WRL_DOMAIN_BURST);
  t.deepEqual(trace.slice(-2), [
    'wrl: dom    0      1  msec      10000 credit      -19900 reserve          0 discard',
    'wrl: dom    5      1  msec      10000 credit      -19800 reserve          0 discard',
  ]);
  clock.ms += 60_000;
  wrl.updateAll(clock.ms);
  t.is(wrl.reserve, WRL_GLOBAL_BURST);
  t.is(dom0.credit, WRL_DOMAIN_BURST);
  // What neither the domain nor the reserve can hold is lost.
  t.is(trace.at(-1), 'wrl: dom    5  60000  msec      10000 credit     1000000 reserve    6000000 discard');
});

test('earnings are whole units of the domain count share, rounded down', (t) => {
  const { wrl, clock } = limiter();
  wrl.addDomain(0);
  wrl.addDomain(1);
  const guest = wrl.addDomain(2);
  guest.credit = -5000;
  clock.ms += 1;
  wrl.update(guest, clock.ms);
  // 200000 / 3000 = 66.67: 66 units.
  t.is(guest.credit, -4934);
});

test('a write costs 1000; a debt is covered from the reserve while it holds credit', (t) => {
  const { wrl, clock, trace } = limiter();
  wrl.addDomain(0);
  const guest = wrl.addDomain(5);
  clock.ms += 10_000;
  wrl.updateAll(clock.ms);
  t.is(wrl.reserve, WRL_GLOBAL_BURST);
  wrl.debit(guest, 11);
  // The eleventh write went into debt, and the next update covers it from the reserve.
  t.is(guest.credit, -WRL_WRITE_COST);
  t.is(trace.filter((l) => l.startsWith('wrl: domain 5 credit=')).length, 11);
  t.is(trace.at(-2), 'wrl: domain 5 credit=-1000 (reserve=1000000)');
  t.is(wrl.blockedForMs(guest), undefined);
  t.is(guest.credit, 0);
  t.is(wrl.reserve, WRL_GLOBAL_BURST - WRL_WRITE_COST);
});

test('a domain in debt with an empty reserve waits until its share pays it back', (t) => {
  const { wrl, clock, trace } = limiter();
  wrl.addDomain(0);
  const guest = wrl.addDomain(5);
  // The reserve is -20000: nothing covers the debt.
  wrl.debit(guest, 13);
  t.is(guest.credit, -3000);
  // 3000 units at 100 a millisecond: 30 ms.
  t.is(wrl.blockedForMs(guest), 30);
  t.is(trace.at(-1), 'wrl: domain 5 credit=-3000 (reserve=-20000) SLEEPING for 30');
  clock.ms += 29;
  t.is(wrl.blockedForMs(guest), 1);
  clock.ms += 1;
  t.is(wrl.blockedForMs(guest), undefined);
  t.is(guest.credit, 0);
});

test('the first debt of a domain is reported, then a restart after two quiet minutes', (t) => {
  const { wrl, clock, trace } = limiter();
  wrl.addDomain(0);
  const guest = wrl.addDomain(5);
  const notes = (): string[] => trace.filter((l) => l.startsWith('write rate limit:'));
  wrl.debit(guest, 11);
  wrl.debit(guest, 1);
  t.deepEqual(notes(), ['write rate limit: domain 5 is affected']);
  clock.ms += 121_000;
  wrl.updateAll(clock.ms);
  t.deepEqual(notes().slice(1), ['write rate limit: not in force recently']);
  wrl.debit(guest, 11);
  t.deepEqual(notes().slice(2), ['write rate limit: rate limiting restarts']);
});

test('a domain going away gives its credit back to the reserve, up to a burst', (t) => {
  const { wrl } = limiter();
  wrl.addDomain(0);
  const guest = wrl.addDomain(5);
  t.is(wrl.reserve, -20000);
  wrl.removeDomain(guest);
  t.is(wrl.reserve, -10000);
  t.is(wrl.domainCount, 1);
  // A second removal is a no-op.
  wrl.removeDomain(guest);
  t.is(wrl.domainCount, 1);
});

function streamClient(stream: ByteStream): RawClient {
  const client = new RawClient((buf) => stream.write(buf), () => stream.close());
  stream.onData((chunk) => client.receive(chunk));
  stream.onClose(() => client.markClosed());
  return client;
}

test('a guest in write debt stays in its ring until it has earned the credit back', async (t) => {
  // The server's clock stands still unless the test moves it: no earnings meanwhile.
  const clock = { ms: 0 };
  const guests = new PageGuests();
  const trace: string[] = [];
  const server = new XenstoreServer({ guests, clock: { nowMs: () => clock.ms, after: SYSTEM_CLOCK.after }, trace: (line) => trace.push(line) });
  t.teardown(() => server.close());
  const dom0 = streamClient(server.connectInProcess(0));
  for (const [type, args] of [[T.Mkdir, ['/local/domain/5']], [T.SetPerms, ['/local/domain/5', 'n5']], [T.Introduce, ['5', '0', '1005']], [T.TransactionStart, ['']]] as const) {
    const { reply } = await dom0.request(type, strings(...args));
    t.not(reply?.type, T.Error);
  }
  const g = guests.ring(5);
  const requests = Array.from({ length: 12 }, (_, i) => frame(T.Write, i + 1, 0, Buffer.from('e\0v', 'latin1')));
  const end = (n: number): number => requests.slice(0, n).reduce((sum, f) => sum + f.length, 0);
  /** Where req_cons rests: wait for it to reach `n` (the clock is frozen, so it stops there). */
  const consumed = async (n: number): Promise<number> => {
    const deadline = Date.now() + 5000;
    while (g.indices().reqCons !== n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    return (await settle(g, 50)).reqCons;
  };
  g.put(Buffer.concat(requests));
  // A burst of 10 writes: the first creates the node (2 writes), the tenth goes into debt.
  t.is(await consumed(end(10)), end(10));
  t.true(trace.includes('write rate limit: domain 5 is affected'));
  // 9 ms at half of 200 writes a second pays back 900 of the 1000 owed: still held.
  clock.ms += 9;
  g.kick();
  t.is((await settle(g, 50)).reqCons, end(10));
  // The last millisecond clears the debt: the guest's notification (or the wake-up timer,
  // which keeps looking while the clock stands still) lets it be read again.
  clock.ms += 1;
  g.kick();
  t.is(await consumed(end(11)), end(11));
  // Without a notification, the wake-up timer reads the last one once it is paid for.
  clock.ms += 10;
  t.is(await consumed(end(12)), end(12));
  const parser = new XsFrameParser();
  parser.push(g.take());
  const replies: string[] = [];
  for (let p = parser.nextPacket(); p !== undefined; p = parser.nextPacket()) replies.push(`${xsTypeName(p.type)}#${p.reqId}`);
  t.deepEqual(replies, requests.map((_, i) => `XS_WRITE#${i + 1}`));
  dom0.close();
});
