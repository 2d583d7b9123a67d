import test from 'ava';
import { XsStore, XsStoreError, type Caller, type StoreChange } from '../../src/xenstore-sim/store/index.js';
import { isValidPath, parsePerm, permsToWire } from '../../src/xenstore-sim/store/index.js';

const dom0: Caller = { domid: 0, privileged: true };
const guest = (domid: number): Caller => ({ domid, privileged: false });
const b = (s: string): Buffer => Buffer.from(s, 'latin1');

function errno(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (error) {
    if (error instanceof XsStoreError) return error.errno;
    throw error;
  }
}

/** A store with /local/domain/5 owned by dom0, readable and writable by domain 5 (as a toolstack sets up). */
function setup(quotas = {}): XsStore {
  const store = new XsStore({ quotas });
  store.mkdir(dom0, '/local/domain/5');
  store.setPerms(dom0, '/local/domain/5', [{ domid: 5, access: 0 }]);
  return store;
}

test('path rules of C xenstored 4.17', (t) => {
  for (const ok of ['/', '/a', '/a/b-c_d@E9', `/${'x'.repeat(2047)}`, `/local/domain/3/${'y'.repeat(2048)}`]) {
    t.true(isValidPath(ok, false, 2048), ok.slice(0, 40));
  }
  for (const bad of ['', 'a', '/a/', '//a', '/a//b', '/a b', '/a.b', '/caf\u00e9', `/${'x'.repeat(2048)}`, '@introduceDomain']) {
    t.false(isValidPath(bad, false, 2048), bad.slice(0, 40));
  }
  t.true(isValidPath('@releaseDomain', true, 2048));
});

test('permission strings parse and print as C does', (t) => {
  t.deepEqual(parsePerm('r5'), { domid: 5, access: 1 });
  t.deepEqual(parsePerm('b0'), { domid: 0, access: 3 });
  t.deepEqual(parsePerm('w12'), { domid: 12, access: 2 });
  t.deepEqual(parsePerm('n1'), { domid: 1, access: 0 });
  for (const bad of ['x1', 'r', 'r1x', '', 'rr1', 'r08', 'r0x', 'r ']) t.is(parsePerm(bad), undefined, bad);
  // strtol(..., 0): hex, octal, blanks, signs; the result wraps into C's unsigned int.
  t.is(parsePerm('r0x10')!.domid, 16);
  t.is(parsePerm('r012')!.domid, 10);
  t.is(parsePerm('r +7')!.domid, 7);
  t.is(permsToWire([parsePerm('r-1')!]).toString('latin1'), 'r-1\0');
  t.is(parsePerm('r4294967297')!.domid, 1);
  t.is(permsToWire([{ domid: 0, access: 0 }, { domid: 5, access: 3 }]).toString('latin1'), 'n0\0b5\0');
});

test('values are bytes, NULs included; parents are created', (t) => {
  const store = new XsStore();
  store.write(dom0, '/a/b/c', b('x\0y\0'));
  t.deepEqual(store.read(dom0, '/a/b/c'), b('x\0y\0'));
  t.deepEqual(store.read(dom0, '/a/b'), b(''));
  t.deepEqual(store.directory(dom0, '/a'), b('b\0'));
  t.is(errno(() => store.read(dom0, '/a/zz')), 'ENOENT');
  t.is(errno(() => store.rm(dom0, '/')), 'EINVAL');
});

test('guests: relative paths, inherited perms, owner on create, owner-only SET_PERMS', (t) => {
  const store = setup();
  const g5 = guest(5);
  store.write(g5, 'device/vbd/51712/state', b('1'));
  const perms = store.getPerms(dom0, '/local/domain/5/device/vbd/51712/state');
  t.deepEqual(perms, [{ domid: 5, access: 0 }]);
  t.deepEqual(store.read(g5, 'device/vbd/51712/state'), b('1'));
  // Another guest sees nothing, not even whether the node exists.
  t.is(errno(() => store.read(guest(6), '/local/domain/5/device')), 'EACCES');
  t.is(errno(() => store.read(guest(6), '/local/domain/5/nope')), 'EACCES');
  t.is(errno(() => store.write(guest(6), '/local/domain/5/x', b('v'))), 'EACCES');
  // The guest may grant access but not give the node away.
  store.setPerms(g5, 'device', [{ domid: 5, access: 0 }, { domid: 6, access: 1 }]);
  t.deepEqual(store.read(guest(6), '/local/domain/5/device'), b(''));
  t.is(errno(() => store.setPerms(g5, 'device', [{ domid: 6, access: 0 }])), 'EPERM');
  t.is(errno(() => store.setPerms(guest(6), '/local/domain/5/device', [{ domid: 6, access: 0 }])), 'EACCES');
  store.setPerms(dom0, '/local/domain/5/device', [{ domid: 7, access: 0 }]);
  t.is(store.getPerms(dom0, '/local/domain/5/device')[0]!.domid, 7);
  // Guests cannot write outside where they were let in.
  t.is(errno(() => store.write(g5, '/tool/x', b('v'))), 'EACCES');
  t.is(errno(() => store.mkdir(g5, '/x')), 'EACCES');
});

test('quotas for guests, with C defaults; dom0 bypasses them', (t) => {
  // The guest owns its home directory too: 1 + 5 nodes.
  const store = setup({ nodesMax: 6 });
  const g5 = guest(5);
  t.is(store.nodesOwnedBy(5), 1);
  for (let i = 0; i < 5; i++) store.write(g5, `n${i}`, b('v'));
  t.is(errno(() => store.write(g5, 'n5', b('v'))), 'ENOSPC');
  t.is(errno(() => store.mkdir(g5, 'deep/er')), 'ENOSPC');
  store.rm(g5, 'n0');
  store.write(g5, 'n5', b('v'));
  for (let i = 0; i < 20; i++) store.write(dom0, `/local/domain/5/d${i}`, b('v'));

  const sized = setup();
  // 24-byte header + one 8-byte permission + value must stay under 2048.
  sized.write(g5, 'ok', Buffer.alloc(2048 - 24 - 8 - 1));
  t.is(errno(() => sized.write(g5, 'big', Buffer.alloc(2048 - 24 - 8))), 'ENOSPC');
  sized.write(dom0, '/local/domain/5/big', Buffer.alloc(4000));
  sized.write(g5, 'small', b('v'));
  t.is(errno(() => sized.setPerms(g5, 'small', Array.from({ length: 6 }, (_, i) => ({ domid: i === 0 ? 5 : i, access: 1 })))), 'ENOSPC');
  sized.setPerms(g5, 'small', Array.from({ length: 5 }, (_, i) => ({ domid: i === 0 ? 5 : i, access: 1 })));
});

test('transactions: own writes visible, isolation, EAGAIN on conflicts, events at commit', (t) => {
  const store = new XsStore();
  const changes: StoreChange[] = [];
  store.onChange = (c) => changes.push(c);
  store.write(dom0, '/t/a', b('1'));
  changes.length = 0;
  const tx = store.startTransaction(dom0, 1);
  store.write(dom0, '/t/a', b('2'), tx);
  store.write(dom0, '/t/new/x', b('3'), tx);
  t.deepEqual(store.read(dom0, '/t/a', tx), b('2'));
  t.deepEqual(store.read(dom0, '/t/a'), b('1'));
  t.is(errno(() => store.read(dom0, '/t/new/x')), 'ENOENT');
  t.deepEqual(changes, []);
  store.endTransaction(tx, true);
  t.deepEqual(store.read(dom0, '/t/new/x'), b('3'));
  t.deepEqual(changes.map((c) => c.path), ['/t/a', '/t/new/x']);

  // A node read in the transaction changed meanwhile.
  const tx2 = store.startTransaction(dom0, 2);
  store.read(dom0, '/t/a', tx2);
  store.write(dom0, '/t/b', b('x'), tx2);
  store.write(dom0, '/t/a', b('same'));
  t.is(errno(() => store.endTransaction(tx2, true)), 'EAGAIN');
  t.is(errno(() => store.read(dom0, '/t/b')), 'ENOENT');

  // A child list the transaction touched changed meanwhile.
  const tx3 = store.startTransaction(dom0, 3);
  store.write(dom0, '/t/c', b('x'), tx3);
  store.write(dom0, '/t/d', b('y'));
  t.is(errno(() => store.endTransaction(tx3, true)), 'EAGAIN');

  // Unrelated changes do not conflict; abort discards.
  const tx4 = store.startTransaction(dom0, 4);
  store.write(dom0, '/t/a', b('4'), tx4);
  store.write(dom0, '/other', b('z'));
  store.endTransaction(tx4, true);
  t.deepEqual(store.read(dom0, '/t/a'), b('4'));
  const tx5 = store.startTransaction(dom0, 5);
  store.rm(dom0, '/t', tx5);
  t.is(errno(() => store.read(dom0, '/t/a', tx5)), 'ENOENT');
  store.endTransaction(tx5, false);
  t.deepEqual(store.read(dom0, '/t/a'), b('4'));
});

test('rm fires exact events for descendants, deepest first, then the recursive one', (t) => {
  const store = new XsStore();
  store.write(dom0, '/r/a/b', b('1'));
  store.write(dom0, '/r/a/c', b('2'));
  const changes: StoreChange[] = [];
  store.onChange = (c) => changes.push(c);
  store.rm(dom0, '/r/a');
  t.deepEqual(changes.map((c) => [c.path, c.exact]), [['/r/a/b', true], ['/r/a/c', true], ['/r/a', false]]);
});

test('releasing a domain removes the nodes it owns and ignores its other grants', (t) => {
  const store = setup();
  store.write(guest(5), 'data/x', b('v'));
  store.write(dom0, '/shared', b('v'));
  store.setPerms(dom0, '/shared', [{ domid: 0, access: 0 }, { domid: 5, access: 1 }]);
  store.releaseDomain(5);
  // The home directory was the guest's own (owner 5), so it goes too.
  t.is(errno(() => store.read(dom0, '/local/domain/5')), 'ENOENT');
  t.deepEqual(store.directory(dom0, '/local/domain'), b(''));
  t.is(errno(() => store.read(guest(5), '/shared')), 'EACCES');
  t.is(permsToWire(store.getPerms(dom0, '/shared')).toString('latin1'), 'n0\0r5\0');
  t.is(store.nodesOwnedBy(5), 0);
});

test('the memory quota counts a new node and its parent\'s longer child list together', (t) => {
  // /local/domain/5 owned by domain 5, so both the new node and its parent are charged to it.
  const probe = setup();
  const base = probe.memoryOf(5);
  // "/local/domain/5/a" (17 bytes of name) + 24-byte header + 8 per permission + 1 value byte,
  // and "a\0" more in the parent's child list.
  const chain = 17 + 24 + 8 + 1;
  const parent = 2;
  // Reaching the quota is already too much, as in C.
  for (const [max, expected] of [[base + chain + parent, 'EIO'], [base + chain + parent + 1, undefined]] as const) {
    const store = setup({ memoryBytesMax: max });
    t.is(errno(() => store.write(guest(5), 'a', b('v'))), expected, `quota ${max}`);
    if (expected === undefined) t.is(store.memoryOf(5), base + chain + parent);
  }
});

test('crossing the soft memory quota is reported once each way', (t) => {
  const store = setup();
  const base = store.memoryOf(5);
  store.quotas.memoryBytesSoftMax = base + 100;
  const seen: [number, boolean][] = [];
  store.onMemoryWarning = (domid, _bytes, above) => seen.push([domid, above]);
  // A node here costs 17 + 24 + 8 + 40 bytes, and 2 more in the parent's child list: 91.
  store.write(guest(5), 'a', b('x'.repeat(40)));
  t.deepEqual(seen, []);
  store.write(guest(5), 'b', b('x'.repeat(40)));
  store.write(guest(5), 'c', b('x'.repeat(40)));
  store.rm(guest(5), 'b');
  store.rm(guest(5), 'c');
  t.deepEqual(seen, [[5, true], [5, false]]);
});
