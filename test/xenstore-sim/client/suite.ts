/**
 * One behavioural suite for the client, run against every daemon and transport: the real C
 * xenstored (oracle), our daemon over its socket, in-process, and over a guest ring. Each test
 * works under its own path prefix so one daemon serves the whole file.
 */
import type { ExecutionContext, TestFn } from 'ava';
import { SplitblkError } from '../../../src/util/errors.js';
import { XsError, type XsClient, type XsWatchEvent } from '../../../src/xenstore-sim/client/api.js';
import { XS_CLIENT_CLOSED, XS_WATCH_OVERFLOW } from '../../../src/xenstore-sim/client/errors.js';
import type { ClientOptions } from '../../../src/xenstore-sim/client/client.js';
import { within } from './helpers.js';

export interface Target {
  /** A new dom0 connection (undefined when the target is unavailable; the test then skips). */
  connect(opts?: ClientOptions): Promise<XsClient>;
  /** Whether the target is usable; false makes every test skip (or fail under CI). */
  available(t: ExecutionContext): boolean;
}

let unique = 0;
const base = (name: string) => `/test-${process.pid}-${++unique}-${name}`;

async function nextEvent(it: AsyncIterator<XsWatchEvent>): Promise<XsWatchEvent> {
  const r = await within(it.next(), 5000, 'watch event');
  if (r.done) throw new Error('watch ended');
  return r.value;
}

/** The cases, each run under a fresh path prefix `root` on a dom0 connection `xs` to `target`. */
type Case = [name: string, body: (t: ExecutionContext, xs: XsClient, root: string, target: Target) => Promise<void>];

const CASES: Case[] = [
  ['read, write, mkdir, rm, directory and typed errors', async (t, xs, root) => {
    await xs.write(`${root}/a/b`, 'hello');
    t.is((await xs.read(`${root}/a/b`)).toString(), 'hello');
    t.is(await xs.readString(`${root}/a`), '');
    const binary = Buffer.from([1, 0, 2, 0, 255]);
    await xs.write(`${root}/bin`, binary);
    t.deepEqual(await xs.read(`${root}/bin`), binary);
    await xs.mkdir(`${root}/dir`);
    t.deepEqual((await xs.directory(root)).sort(), ['a', 'bin', 'dir']);
    t.is(await xs.readString(`${root}/missing`), undefined);
    const error = await t.throwsAsync(xs.read(`${root}/missing`), { instanceOf: XsError });
    t.is(error?.errno, 'ENOENT');
    t.is(error?.path, `${root}/missing`);
    await xs.rm(`${root}/a`);
    t.deepEqual((await xs.directory(root)).sort(), ['bin', 'dir']);
    const bad = await t.throwsAsync(xs.write('bad//path', 'x'), { instanceOf: XsError });
    t.is(bad?.errno, 'EINVAL');
  }],

  ['many requests in flight pair with their replies', async (t, xs, root) => {
    const n = 200;
    await Promise.all(Array.from({ length: n }, (_, i) => xs.write(`${root}/k${i}`, `v${i}`)));
    const values = await Promise.all(Array.from({ length: n }, (_, i) => xs.readString(`${root}/k${i}`)));
    t.deepEqual(values, Array.from({ length: n }, (_, i) => `v${i}`));
    const mixed = await Promise.allSettled([xs.read(`${root}/k1`), xs.read(`${root}/nope`), xs.read(`${root}/k2`)]);
    t.is(mixed[0].status === 'fulfilled' && mixed[0].value.toString(), 'v1');
    t.is(mixed[1].status === 'rejected' && (mixed[1].reason as XsError).errno, 'ENOENT');
    t.is(mixed[2].status === 'fulfilled' && mixed[2].value.toString(), 'v2');
  }],

  ['a directory over 4096 bytes is listed in parts', async (t, xs, root) => {
    const names = Array.from({ length: 300 }, (_, i) => `child-with-a-rather-long-name-${String(i).padStart(4, '0')}`);
    await xs.transaction(async (tx) => {
      for (const name of names) await tx.write(`${root}/${name}`, '');
    });
    t.deepEqual((await xs.directory(root)).sort(), names);
  }],

  ['watches fire on registration and on changes, and close ends them', async (t, xs, root) => {
    await xs.write(`${root}/w`, '0');
    const watch = await xs.watch(`${root}/w`, 'tok');
    const it = watch[Symbol.asyncIterator]();
    t.deepEqual(await nextEvent(it), { path: `${root}/w`, token: 'tok' });
    await xs.write(`${root}/w/child`, '1');
    t.deepEqual(await nextEvent(it), { path: `${root}/w/child`, token: 'tok' });
    await xs.write(`${root}/w`, '0');
    t.deepEqual(await nextEvent(it), { path: `${root}/w`, token: 'tok' });
    const other = await xs.watch(`${root}/other`);
    const it2 = other[Symbol.asyncIterator]();
    t.is((await nextEvent(it2)).path, `${root}/other`);
    await watch.close();
    t.deepEqual(await it.next(), { done: true, value: undefined });
    await xs.write(`${root}/w`, '2');
    await xs.write(`${root}/other`, 'x');
    t.is((await nextEvent(it2)).path, `${root}/other`);
    await xs.write(`${root}/other`, 'y');
    let seen = 0;
    for await (const event of other) {
      t.is(event.path, `${root}/other`);
      seen += 1;
      break; // breaking out closes the watch
    }
    t.is(seen, 1);
    t.deepEqual(await it2.next(), { done: true, value: undefined });
  }],

  ['a watch that is not consumed ends with an overflow error', async (t, _xs, root, target) => {
    const watcher = await target.connect({ watchEventsMax: 4 });
    const writer = await target.connect();
    try {
      const watch = await watcher.watch(root);
      for (let i = 0; i < 10; i++) await writer.write(`${root}/n`, String(i));
      // One round trip on the watcher's connection: the events were queued before its reply.
      await watcher.readString(`${root}/n`);
      const error = await t.throwsAsync(async () => {
        for await (const _ of watch) {
          // drain
        }
      });
      t.true(error instanceof SplitblkError && error.code === XS_WATCH_OVERFLOW);
    } finally {
      await watcher.close();
      await writer.close();
    }
  }],

  ['transactions see their own writes and retry on EAGAIN', async (t, xs, root, target) => {
    await xs.write(`${root}/counter`, '0');
    const other = await target.connect();
    try {
      let attempts = 0;
      const result = await xs.transaction(async (tx) => {
        attempts += 1;
        const n = Number(await tx.readString(`${root}/counter`));
        await tx.write(`${root}/counter`, String(n + 1));
        t.is(await tx.readString(`${root}/counter`), String(n + 1));
        t.is(await xs.readString(`${root}/counter`), String(n), 'outside the transaction the old value stays');
        if (attempts === 1) await other.write(`${root}/counter`, '10');
        return n + 1;
      });
      t.is(attempts, 2);
      t.is(result, 11);
      t.is(await xs.readString(`${root}/counter`), '11');

      let tries = 0;
      const error = await t.throwsAsync(
        xs.transaction(async (tx) => {
          tries += 1;
          await tx.readString(`${root}/counter`);
          await tx.write(`${root}/counter`, 'mine');
          await other.write(`${root}/counter`, `theirs-${tries}`);
        }, { retriesMax: 2 }),
        { instanceOf: XsError },
      );
      t.is(error?.errno, 'EAGAIN');
      t.is(tries, 3, 'one attempt plus retriesMax retries');

      const thrown = await t.throwsAsync(xs.transaction(async (tx) => {
        await tx.write(`${root}/aborted`, 'x');
        throw new Error('boom');
      }));
      t.is(thrown?.message, 'boom');
      t.is(await xs.readString(`${root}/aborted`), undefined, 'an error aborts the transaction');
    } finally {
      await other.close();
    }
  }],

  ['permissions', async (t, xs, root) => {
    await xs.write(`${root}/p`, 'x');
    t.deepEqual(await xs.getPerms(`${root}/p`), [{ domid: 0, perm: 'n' }]);
    await xs.setPerms(`${root}/p`, [{ domid: 5, perm: 'r' }, { domid: 7, perm: 'b' }]);
    t.deepEqual(await xs.getPerms(`${root}/p`), [{ domid: 5, perm: 'r' }, { domid: 7, perm: 'b' }]);
    const error = await t.throwsAsync(xs.getPerms(`${root}/none`), { instanceOf: XsError });
    t.is(error?.errno, 'ENOENT');
  }],

  ['domain queries', async (t, xs) => {
    t.is(await xs.getDomainPath(3), '/local/domain/3');
    t.true(await xs.isDomainIntroduced(0));
    t.false(await xs.isDomainIntroduced(4321));
  }],

  ['close rejects pending requests and ends watches', async (t, xs, root) => {
    const watch = await xs.watch(root);
    const it = watch[Symbol.asyncIterator]();
    await nextEvent(it);
    const waiting = it.next();
    const pending = xs.read(`${root}/x`);
    await xs.close();
    const error = await t.throwsAsync(pending);
    t.true(error instanceof SplitblkError && error.code === XS_CLIENT_CLOSED);
    t.deepEqual(await waiting, { done: true, value: undefined });
    const after = await t.throwsAsync(xs.read(`${root}/x`));
    t.true(after instanceof SplitblkError && after.code === XS_CLIENT_CLOSED);
  }],
];

export function clientSuite(test: TestFn, label: string, target: Target): void {
  for (const [name, body] of CASES) {
    test(`${label}: ${name}`, async (t) => {
      if (!target.available(t)) return;
      const xs = await target.connect();
      try {
        await body(t, xs, base(name.replace(/\W+/g, '-')), target);
      } finally {
        await xs.close();
      }
    });
  }
}
