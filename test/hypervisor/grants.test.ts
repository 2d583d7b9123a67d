import test from 'ava';
import { openHypervisor } from '../../src/hypervisor/hypervisor.js';
import { GTF_permit_access, GTF_readonly, GTF_reading, GTF_writing } from '../../src/hypervisor/grant-layout.js';
import { SplitblkError } from '../../src/util/errors.js';
import { Actor, tempRundir } from './actor-client.js';
import { grantEntry } from './tables.js';

/** A run directory with one guest (a separate process) and the hypervisor opened here as dom0. */
async function setup(t: { teardown: (fn: () => void | Promise<void>) => void }) {
  const rundir = tempRundir();
  const hv = openHypervisor(rundir.dir);
  const domain = hv.createDomain({ name: 'guest', memoryMiB: 4 });
  const guest = await Actor.start(rundir.dir, domain.domid);
  t.teardown(async () => {
    await guest.exit();
    hv.close();
    rundir.remove();
  });
  return { rundir: rundir.dir, hv, domid: domain.domid, guest };
}

test('a backend process maps pages a guest process granted and both see the same bytes', async (t) => {
  const { rundir, hv, domid, guest } = await setup(t);
  const gfn: number = await guest.do('allocPages', { count: 2 });
  await guest.do('writeGuest', { gfn, bytes: [1, 2, 3, 4] });
  await guest.do('writeGuest', { gfn: gfn + 1, offset: 100, bytes: [9, 8, 7] });
  const refs = [await guest.do('grant', { domid: 0, gfn }), await guest.do('grant', { domid: 0, gfn: gfn + 1 })];

  const mapping = hv.openGrantMapper(0).mapGrantRefs(domid, refs, 2, true);
  const view = new Uint8Array(mapping.buffer);
  t.is(mapping.pages, 2);
  t.deepEqual([...view.subarray(0, 4)], [1, 2, 3, 4]);
  t.deepEqual([...view.subarray(4096 + 100, 4096 + 103)], [9, 8, 7]);
  view.set([42, 43], 4096 + 200);
  t.deepEqual(await guest.do('readGuest', { gfn: gfn + 1, offset: 200, length: 2 }), [42, 43]);

  // While mapped the entry is busy, as Xen marks it, and the guest cannot end access.
  const entry = grantEntry(rundir, domid, refs[0]);
  t.is(entry.flags, GTF_permit_access | GTF_reading | GTF_writing);
  t.is(entry.domid, 0);
  t.is(entry.frame, gfn);
  t.false(await guest.do('endAccess', { ref: refs[0] }));
  t.is(grantEntry(rundir, domid, refs[0]).flags, GTF_permit_access | GTF_reading | GTF_writing);

  mapping.unmap();
  t.is(grantEntry(rundir, domid, refs[0]).flags, GTF_permit_access);
  t.true(await guest.do('endAccess', { ref: refs[0] }));
  t.true(await guest.do('endAccess', { ref: refs[1] }));
  t.is(grantEntry(rundir, domid, refs[0]).flags, 0);
});

test('a read-only grant maps read-only and refuses a writable mapping', async (t) => {
  const { rundir, hv, domid, guest } = await setup(t);
  const gfn: number = await guest.do('allocPages', { count: 1 });
  const ref: number = await guest.do('grant', { domid: 0, gfn, readonly: true });
  const mapper = hv.openGrantMapper(0);
  const error = t.throws(() => mapper.mapGrantRefs(domid, [ref], 1, true), { instanceOf: SplitblkError });
  t.is(error?.code, 'SPLITBLK_ERR_GRANT');
  t.like(error?.fields, { domid, ref });
  t.is(grantEntry(rundir, domid, ref).flags, GTF_permit_access | GTF_readonly);

  const mapping = mapper.mapGrantRefs(domid, [ref], 1, false);
  t.false(mapping.writable);
  t.is(grantEntry(rundir, domid, ref).flags, GTF_permit_access | GTF_readonly | GTF_reading);
  mapping.unmap();
  t.is(grantEntry(rundir, domid, ref).flags, GTF_permit_access | GTF_readonly);
});

test('a grant to another domain is refused, and a failed multi-ref map undoes the refs it took', async (t) => {
  const { rundir, hv, domid, guest } = await setup(t);
  const gfn: number = await guest.do('allocPages', { count: 2 });
  const good: number = await guest.do('grant', { domid: 0, gfn });
  const other: number = await guest.do('grant', { domid: 7, gfn: gfn + 1 });
  const error = t.throws(() => hv.openGrantMapper(0).mapGrantRefs(domid, [good, other], 2, true), {
    instanceOf: SplitblkError,
  });
  t.is(error?.code, 'SPLITBLK_ERR_GRANT');
  t.like(error?.fields, { domid, ref: other });
  t.is(grantEntry(rundir, domid, good).flags, GTF_permit_access);
  t.true(await guest.do('endAccess', { ref: good }));
});

test('garbage grant entries and out-of-range refs are operating errors', async (t) => {
  const { hv, domid, guest } = await setup(t);
  const mapper = hv.openGrantMapper(0);
  const gfn: number = await guest.do('allocPages', { count: 1 });
  const ref: number = await guest.do('grant', { domid: 0, gfn });
  for (const bad of [[500], [-1], [1 << 20], [1.5]]) {
    const error = t.throws(() => mapper.mapGrantRefs(domid, bad, 1, false), { instanceOf: SplitblkError });
    t.is(error?.code, 'SPLITBLK_ERR_GRANT');
  }
  // A frame beyond the guest's memory (the guest may write anything into its table).
  const far: number = await guest.do('grant', { domid: 0, gfn: 4 * 256 + 5 });
  t.is(t.throws(() => mapper.mapGrantRefs(domid, [ref, far], 2, false))?.message.includes('outside'), true);
  t.true(await guest.do('endAccess', { ref }));
  const missing = t.throws(() => mapper.mapGrantRefs(999, [ref], 1, false), { instanceOf: SplitblkError });
  t.is(missing?.code, 'SPLITBLK_ERR_NO_DOMAIN');
});

test('several mappings of one ref across processes keep it busy until the last unmap', async (t) => {
  const { rundir, hv, domid, guest } = await setup(t);
  const backend = await Actor.start(rundir, 0);
  t.teardown(() => backend.exit());
  const gfn: number = await guest.do('allocPages', { count: 1 });
  const ref: number = await guest.do('grant', { domid: 0, gfn });

  const here = hv.openGrantMapper(0).mapGrantRefs(domid, [ref], 1, true);
  const there: number = await backend.do('map', { domid, refs: [ref], writable: false });
  here.unmap();
  // The read-only mapping remains: GTF_writing goes, GTF_reading stays.
  t.is(grantEntry(rundir, domid, ref).flags, GTF_permit_access | GTF_reading);
  t.false(await guest.do('endAccess', { ref }));
  await backend.do('unmap', { id: there });
  t.is(grantEntry(rundir, domid, ref).flags, GTF_permit_access);
  t.true(await guest.do('endAccess', { ref }));
});

test('many processes mapping and unmapping one ref at once leave it clean', async (t) => {
  const { rundir, hv, domid, guest } = await setup(t);
  const backends = await Promise.all([Actor.start(rundir, 0), Actor.start(rundir, 0)]);
  t.teardown(() => Promise.all(backends.map((b) => b.exit())).then(() => undefined));
  const gfn: number = await guest.do('allocPages', { count: 1 });
  const ref: number = await guest.do('grant', { domid: 0, gfn });
  const rounds = 5000;
  t.deepEqual(await Promise.all(backends.map((b) => b.do('mapLoop', { domid, ref, rounds }))), [rounds, rounds]);
  t.is(grantEntry(rundir, domid, ref).flags, GTF_permit_access);
  const mapping = hv.openGrantMapper(0).mapGrantRefs(domid, [ref], 1, true);
  t.is(grantEntry(rundir, domid, ref).flags, GTF_permit_access | GTF_reading | GTF_writing);
  mapping.unmap();
  t.true(await guest.do('endAccess', { ref }));
});

test('a privileged process maps guest frames by gfn', async (t) => {
  const { rundir, domid, guest } = await setup(t);
  const xenstored = await Actor.start(rundir, 0);
  t.teardown(() => xenstored.exit());
  const gfn: number = await guest.do('allocPages', { count: 1 });
  await guest.do('writeGuest', { gfn, offset: 10, bytes: [5, 6, 7] });
  const id: number = await xenstored.do('foreignMap', { domid, gfns: [gfn], writable: true });
  t.deepEqual(await xenstored.do('readMapping', { id, offset: 10, length: 3 }), [5, 6, 7]);
  await xenstored.do('writeMapping', { id, offset: 20, bytes: [1] });
  t.deepEqual(await guest.do('readGuest', { gfn, offset: 20, length: 1 }), [1]);
  const outside = await xenstored.call('foreignMap', { domid, gfns: [1 << 20], writable: false });
  t.is(outside.code, 'SPLITBLK_ERR_FOREIGN_MAP');
});

test('a guest ending access while two backends map the ref: no mapping ever holds an ended grant', async (t) => {
  const { rundir, domid, guest } = await setup(t);
  const backends = await Promise.all([Actor.start(rundir, 0), Actor.start(rundir, 0)]);
  t.teardown(() => Promise.all(backends.map((b) => b.exit())).then(() => undefined));
  const gfn: number = await guest.do('allocPages', { count: 1 });
  const ref: number = await guest.do('grant', { domid: 0, gfn });
  t.true(await guest.do('endAccess', { ref }));
  const rounds = 4000;
  const [, ...results] = await Promise.all([
    guest.do('grantEndLoop', { gfn, ref, rounds }),
    ...backends.map((b) => b.do('mapCheckLoop', { domid, ref, rounds })),
  ]);
  for (const result of results as Array<{ mapped: number; refused: number; violations: number }>) {
    t.is(result.violations, 0);
    t.is(result.mapped + result.refused, rounds);
  }
  t.log('mapped/refused', results);
  t.is(grantEntry(rundir, domid, ref).flags, 0);
});
