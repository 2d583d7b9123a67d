import test from 'ava';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { openHypervisor } from '../../src/hypervisor/hypervisor.js';
import { RunDir } from '../../src/hypervisor/rundir.js';
import { EVTCHN_TABLE_BYTES, EVTCHN_UNBOUND, encodeBinding } from '../../src/hypervisor/evtchn-table.js';
import { GNTTAB_BYTES } from '../../src/hypervisor/grant-layout.js';
import { SplitblkError } from '../../src/util/errors.js';
import { Actor, tempRundir } from './actor-client.js';
import { evtchnEntry } from './tables.js';

function setup(t: { teardown: (fn: () => void) => void }) {
  const rundir = tempRundir();
  const hv = openHypervisor(rundir.dir);
  t.teardown(() => {
    hv.close();
    rundir.remove();
  });
  return { rundir: rundir.dir, dirs: new RunDir(rundir.dir), hv };
}

test('dom0 exists implicitly and domains are created, listed and described', (t) => {
  const { dirs, hv } = setup(t);
  t.deepEqual(hv.listDomains(), [{ domid: 0, name: 'Domain-0', memoryPages: 0, dying: false, shutdown: false }]);
  const info = hv.createDomain({ name: 'vm1', memoryMiB: 2 });
  t.deepEqual(info, { domid: 1, name: 'vm1', memoryPages: 512, dying: false, shutdown: false });
  t.deepEqual(hv.domainInfo(1), info);
  t.deepEqual(
    hv.listDomains().map((d) => d.name),
    ['Domain-0', 'vm1'],
  );
  t.is(statSync(dirs.memory(1)).size, 2 * 1024 * 1024);
  t.is(statSync(dirs.gnttab(1)).size, GNTTAB_BYTES);
  t.is(statSync(dirs.evtchn(1)).size, EVTCHN_TABLE_BYTES);
  t.deepEqual(JSON.parse(readFileSync(dirs.startInfo(1), 'utf8')), {
    domid: 1,
    name: 'vm1',
    memoryPages: 512,
    reservedPages: 4,
    storeGfn: 1,
    storePort: 1,
    grantEntries: 16384,
    evtchnPorts: 4096,
  });
  t.deepEqual(hv.startInfo(1), JSON.parse(readFileSync(dirs.startInfo(1), 'utf8')));
  // The store port is offered to dom0.
  t.is(evtchnEntry(dirs.root, 1, 1).binding, encodeBinding(EVTCHN_UNBOUND, 0, 0));
  const memory = hv.openGuestMemory(1);
  t.is(memory.allocPages(1), 4); // Never the reserved xenstore/console frames.
  memory.close();

  t.is(t.throws(() => hv.createDomain({ domid: 1, memoryMiB: 1 }), { instanceOf: SplitblkError })?.code, 'SPLITBLK_ERR_DOMAIN_EXISTS');
  t.is(t.throws(() => hv.createDomain({ name: 'vm1', memoryMiB: 1 }), { instanceOf: SplitblkError })?.code, 'SPLITBLK_ERR_DOMAIN_EXISTS');
  t.is(t.throws(() => hv.createDomain({ memoryMiB: 0 }), { instanceOf: SplitblkError })?.code, 'SPLITBLK_ERR_INVALID');
  for (const name of ['', 'a"b', 'back\\slash', 'x'.repeat(64), 'tab\there']) {
    t.is(t.throws(() => hv.createDomain({ name, memoryMiB: 1 }), { instanceOf: SplitblkError })?.code, 'SPLITBLK_ERR_INVALID', name);
  }
  t.is(hv.createDomain({ domid: 9, memoryMiB: 1 }).domid, 9);
});

test('destroy removes the files, unbinds peers and leaves mappings held by others valid', async (t) => {
  const { rundir, dirs, hv } = setup(t);
  const { domid } = hv.createDomain({ memoryMiB: 1 });
  const guest = await Actor.start(rundir, domid);
  t.teardown(() => guest.kill());
  const gfn: number = await guest.do('allocPages', { count: 1 });
  await guest.do('writeGuest', { gfn, bytes: [11, 22] });
  const ref: number = await guest.do('grant', { domid: 0, gfn });
  const guestPort: number = await guest.do('allocUnbound', { remote: 0 });
  const evtchn = hv.openEventChannels(0);
  const port = evtchn.bindInterdomain(domid, guestPort);
  const mapping = hv.openGrantMapper(0).mapGrantRefs(domid, [ref], 1, true);
  await guest.exit();

  hv.destroyDomain(domid);
  t.false(existsSync(dirs.domainDir(domid)));
  t.is(hv.domainInfo(domid), undefined);
  t.deepEqual(
    hv.listDomains().map((d) => d.domid),
    [0],
  );
  t.is(evtchnEntry(rundir, 0, port).binding, encodeBinding(EVTCHN_UNBOUND, 0, domid));
  t.notThrows(() => evtchn.notify(port));
  // tmpfs keeps the pages while they are mapped.
  t.deepEqual([...new Uint8Array(mapping.buffer, 0, 2)], [11, 22]);
  t.notThrows(() => mapping.unmap());
  evtchn.closeAll();

  t.is(t.throws(() => hv.destroyDomain(domid), { instanceOf: SplitblkError })?.code, 'SPLITBLK_ERR_NO_DOMAIN');
  t.is(t.throws(() => hv.destroyDomain(0), { instanceOf: SplitblkError })?.code, 'SPLITBLK_ERR_INVALID');
  t.is(t.throws(() => hv.openGrantMapper(0).mapGrantRefs(domid, [ref], 1, false), { instanceOf: SplitblkError })?.code, 'SPLITBLK_ERR_NO_DOMAIN');
});

test('a destroyed domid reused by a new domain is seen afresh by handles that cached the old one', (t) => {
  const { hv } = setup(t);
  const first = hv.createDomain({ memoryMiB: 1 });
  const guestEvtchn = hv.openEventChannels(first.domid);
  const dom0 = hv.openEventChannels(0);
  dom0.bindInterdomain(first.domid, guestEvtchn.allocUnbound(0));
  guestEvtchn.closeAll();
  hv.destroyDomain(first.domid);
  const second = hv.createDomain({ domid: first.domid, memoryMiB: 2 });
  const gnttab = hv.openGrantTable(second.domid);
  const memory = hv.openGuestMemory(second.domid);
  const gfn = memory.allocPages(1);
  new Uint8Array(memory.buffer)[gfn * 4096] = 99;
  const ref = gnttab.grantAccess(0, gfn, true);
  const mapping = hv.openGrantMapper(0).mapGrantRefs(second.domid, [ref], 1, false);
  t.is(new Uint8Array(mapping.buffer)[0], 99);
  mapping.unmap();
  t.true(gnttab.endAccess(ref));
  t.is(memory.pages, 512);
  gnttab.close();
  memory.close();
  dom0.closeAll();
});

test('processes creating domains at once get distinct domids', async (t) => {
  const { rundir, hv } = setup(t);
  const creators = await Promise.all([Actor.start(rundir, 0), Actor.start(rundir, 0)]);
  t.teardown(() => creators.forEach((c) => c.kill()));
  const lists: number[][] = await Promise.all(creators.map((c) => c.do('createDomains', { count: 10 })));
  const all = lists.flat();
  t.is(new Set(all).size, 20);
  t.is(hv.listDomains().length, 21);
  await Promise.all(creators.map((c) => c.exit()));
});
