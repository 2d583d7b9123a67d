import test from 'ava';
import { existsSync } from 'node:fs';
import { openHypervisor } from '../../src/hypervisor/hypervisor.js';
import { RunDir } from '../../src/hypervisor/rundir.js';
import { native } from '../../src/native/index.js';
import {
  EVTCHN_TABLE_BYTES,
  EVTCHN_FREE,
  EVTCHN_INTERDOMAIN,
  EVTCHN_MASKED,
  EVTCHN_PENDING,
  EVTCHN_UNBOUND,
  encodeBinding,
} from '../../src/hypervisor/evtchn-table.js';
import { SplitblkError } from '../../src/util/errors.js';
import { Actor, tempRundir } from './actor-client.js';
import { evtchnEntry } from './tables.js';

async function setup(t: { teardown: (fn: () => void | Promise<void>) => void }) {
  const rundir = tempRundir();
  const hv = openHypervisor(rundir.dir);
  const { domid } = hv.createDomain({ name: 'guest', memoryMiB: 1 });
  const guest = await Actor.start(rundir.dir, domid);
  const evtchn = hv.openEventChannels(0);
  t.teardown(async () => {
    await guest.exit();
    evtchn.closeAll();
    hv.close();
    rundir.remove();
  });
  return { rundir: rundir.dir, hv, domid, guest, evtchn };
}

/** Resolves when `handler` has run `count` times. */
function counter(): { handler: () => void; count: () => number; until: (n: number) => Promise<void> } {
  let count = 0;
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  return {
    handler: () => {
      count++;
      for (const w of waiters.filter((w) => w.n <= count)) w.resolve();
    },
    count: () => count,
    until: (n) => (count >= n ? Promise.resolve() : new Promise((resolve) => waiters.push({ n, resolve }))),
  };
}

test('alloc_unbound in one process, bind_interdomain in another, notify wakes both ways', async (t) => {
  const { rundir, domid, guest, evtchn } = await setup(t);
  const guestPort: number = await guest.do('allocUnbound', { remote: 0 });
  t.is(evtchnEntry(rundir, domid, guestPort).binding, encodeBinding(EVTCHN_UNBOUND, 0, 0));
  await guest.do('listen', { port: guestPort });

  const port = evtchn.bindInterdomain(domid, guestPort);
  t.is(evtchnEntry(rundir, domid, guestPort).binding >>> 0, encodeBinding(EVTCHN_INTERDOMAIN, port, 0) >>> 0);
  t.is(evtchnEntry(rundir, 0, port).binding >>> 0, encodeBinding(EVTCHN_INTERDOMAIN, guestPort, domid) >>> 0);
  const events = counter();
  evtchn.onEvent(port, events.handler);

  evtchn.notify(port);
  await guest.waitEvents(guestPort, 1);
  await guest.do('notify', { port: guestPort });
  await events.until(1);
  // Again, to show the pending bit was cleared and the doorbell re-armed.
  evtchn.notify(port);
  await guest.waitEvents(guestPort, 2);
  await guest.do('notify', { port: guestPort });
  await events.until(2);
  t.is(evtchnEntry(rundir, domid, guestPort).flags & EVTCHN_PENDING, 0);
  t.true(existsSync(new RunDir(rundir).evtchnDoorbell(0, port)));
});

test('an event sent before anyone listens is delivered when the receiver starts listening', async (t) => {
  const { domid, guest, evtchn } = await setup(t);
  const guestPort: number = await guest.do('allocUnbound', { remote: 0 });
  const port = evtchn.bindInterdomain(domid, guestPort);
  evtchn.notify(port);
  evtchn.notify(port);
  await guest.do('listen', { port: guestPort });
  await guest.waitEvents(guestPort, 1);
  t.is(guest.events(guestPort), 1);
});

test('a masked port keeps the event pending and unmask delivers it', async (t) => {
  const { rundir, domid, guest, evtchn } = await setup(t);
  const port = evtchn.allocUnbound(domid);
  const guestPort: number = await guest.do('bind', { remote: 0, port });
  const events = counter();
  evtchn.onEvent(port, events.handler);
  evtchn.mask(port);
  await guest.do('notify', { port: guestPort });
  t.is(evtchnEntry(rundir, 0, port).flags, EVTCHN_PENDING | EVTCHN_MASKED);
  t.is(events.count(), 0);
  evtchn.unmask(port);
  await events.until(1);
  t.is(evtchnEntry(rundir, 0, port).flags, 0);
});

test('polling mode: the notifier skips the doorbell and the receiver tests the pending bit', async (t) => {
  const { domid, guest, evtchn } = await setup(t);
  const port = evtchn.allocUnbound(domid);
  const guestPort: number = await guest.do('bind', { remote: 0, port });
  evtchn.setPolling(port, true);
  t.false(evtchn.testAndClearPending(port));
  await guest.do('notify', { port: guestPort });
  // No listener and no FIFO are needed: the poller finds the bit.
  let spins = 0;
  await new Promise<void>((resolve) => {
    const poll = (): void => {
      spins++;
      if (evtchn.testAndClearPending(port)) resolve();
      else setImmediate(poll);
    };
    poll();
  });
  t.true(spins >= 1);
  t.false(evtchn.testAndClearPending(port));
  // Leaving polling mode with an event pending delivers it to the handler.
  const events = counter();
  evtchn.onEvent(port, events.handler);
  await guest.do('notify', { port: guestPort });
  evtchn.setPolling(port, false);
  await events.until(1);
  t.is(events.count(), 1);
});

test('close unbinds the peer: its notify becomes a no-op', async (t) => {
  const { rundir, domid, guest, evtchn } = await setup(t);
  const guestPort: number = await guest.do('allocUnbound', { remote: 0 });
  const port = evtchn.bindInterdomain(domid, guestPort);
  await guest.do('close', { port: guestPort });
  t.is(evtchnEntry(rundir, domid, guestPort).binding, EVTCHN_FREE);
  // Our end is now unbound, offered back to the closer as in Xen.
  t.is(evtchnEntry(rundir, 0, port).binding >>> 0, encodeBinding(EVTCHN_UNBOUND, 0, domid) >>> 0);
  t.notThrows(() => evtchn.notify(port));
  t.is(evtchnEntry(rundir, domid, guestPort).flags, 0);
  evtchn.close(port);
  t.is(evtchnEntry(rundir, 0, port).binding, EVTCHN_FREE);
});

test('ports allocated at once by several processes of one domain are all distinct', async (t) => {
  const { rundir, domid } = await setup(t);
  const dom0s = await Promise.all([Actor.start(rundir, 0), Actor.start(rundir, 0), Actor.start(rundir, 0)]);
  t.teardown(() => Promise.all(dom0s.map((a) => a.exit())).then(() => undefined));
  const count = 1000;
  const lists: number[][] = await Promise.all(dom0s.map((a) => a.do('allocMany', { remote: domid, count })));
  const all = lists.flat();
  t.is(all.length, 3 * count);
  t.is(new Set(all).size, all.length);
});

test('two processes racing to bind the same unbound ports: exactly one wins each', async (t) => {
  const { domid, guest } = await setup(t);
  const rundir = guest.rundir;
  const binders = await Promise.all([Actor.start(rundir, 0), Actor.start(rundir, 0)]);
  t.teardown(() => Promise.all(binders.map((a) => a.exit())).then(() => undefined));
  const ports: number[] = await guest.do('allocMany', { remote: 0, count: 300 });
  const [a, b] = (await Promise.all(binders.map((x) => x.do('bindMany', { remote: domid, ports })))) as [
    Array<number | string>,
    Array<number | string>,
  ];
  for (let i = 0; i < ports.length; i++) {
    const wins = [a[i], b[i]].filter((r) => typeof r === 'number').length;
    t.is(wins, 1, `port ${ports[i]}: ${a[i]} / ${b[i]}`);
    t.true([a[i], b[i]].includes('SPLITBLK_ERR_EVTCHN'));
  }
});

test('bad ports and refused binds are operating errors', async (t) => {
  const { domid, guest, evtchn } = await setup(t);
  for (const bad of [0, -1, 4096, 1.5, 70000]) {
    const error = t.throws(() => evtchn.notify(bad), { instanceOf: SplitblkError });
    t.is(error?.code, 'SPLITBLK_ERR_EVTCHN');
    t.like(error?.fields, { domid: 0, port: bad });
  }
  t.is(t.throws(() => evtchn.unmask(4000), { instanceOf: SplitblkError })?.code, 'SPLITBLK_ERR_EVTCHN');
  // A port offered to another domain, a free port, and a missing domain.
  const offeredElsewhere: number = await guest.do('allocUnbound', { remote: domid });
  const refused = t.throws(() => evtchn.bindInterdomain(domid, offeredElsewhere), { instanceOf: SplitblkError });
  t.is(refused?.code, 'SPLITBLK_ERR_EVTCHN');
  t.like(refused?.fields, { domid, port: offeredElsewhere });
  t.is(t.throws(() => evtchn.bindInterdomain(domid, 3000), { instanceOf: SplitblkError })?.code, 'SPLITBLK_ERR_EVTCHN');
  t.is(t.throws(() => evtchn.bindInterdomain(77, 1), { instanceOf: SplitblkError })?.code, 'SPLITBLK_ERR_NO_DOMAIN');
  const reply = await guest.call('bind', { remote: 0, port: 5000 });
  t.is(reply.code, 'SPLITBLK_ERR_EVTCHN');
});

test('loopback channels within one domain and many notifies coalesce', async (t) => {
  const { evtchn } = await setup(t);
  const a = evtchn.allocUnbound(0);
  const b = evtchn.bindInterdomain(0, a);
  const events = counter();
  evtchn.onEvent(a, events.handler);
  for (let i = 0; i < 1000; i++) evtchn.notify(b);
  await events.until(1);
  await new Promise((resolve) => setImmediate(resolve));
  t.true(events.count() >= 1 && events.count() <= 2);
});

test('garbage a guest writes into its own port table harms nobody', async (t) => {
  const { rundir, hv, domid, guest, evtchn } = await setup(t);
  const guestPort: number = await guest.do('allocUnbound', { remote: 0 });
  const port = evtchn.bindInterdomain(domid, guestPort);
  // Forge bindings: to dom0's header (port 0), to a domain that does not exist, to our port
  // while claiming another port number, and a state that does not exist.
  const table = native.shm.open(new RunDir(rundir).evtchn(domid), { writable: true });
  const words = new Int32Array(table.map(0, EVTCHN_TABLE_BYTES, true).buffer);
  table.close();
  const forged = [
    encodeBinding(EVTCHN_INTERDOMAIN, 0, 0),
    encodeBinding(EVTCHN_INTERDOMAIN, 5, 0x7000),
    encodeBinding(EVTCHN_INTERDOMAIN, port, 0),
    0x7fffffff,
  ];
  forged.forEach((word, i) => Atomics.store(words, (100 + i) * 4, word));
  for (let i = 0; i < forged.length; i++) t.is((await guest.call('notify', { port: 100 + i })).ok, true);
  t.is(evtchnEntry(rundir, 0, 0).flags, 1, "dom0's header state is still ALIVE");
  t.notThrows(() => evtchn.notify(port));
  await guest.exit();
  t.notThrows(() => hv.destroyDomain(domid));
  // Only the genuine binding to the guest was undone.
  t.is(evtchnEntry(rundir, 0, port).binding, encodeBinding(EVTCHN_UNBOUND, 0, domid));
});
