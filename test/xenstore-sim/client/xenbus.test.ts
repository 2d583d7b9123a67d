import test from 'ava';
import { SplitblkError } from '../../../src/util/errors.js';
import { XsError } from '../../../src/xenstore-sim/client/api.js';
import { connectInProcess } from '../../../src/xenstore-sim/client/in-process.js';
import { XenstoreServer } from '../../../src/xenstore-sim/server/index.js';
import {
  XENBUS_TIMEOUT, XenbusState, parseXenbusState, switchState, waitForState, watchXenbusState, xenbusStateName,
} from '../../../src/xenstore-sim/xenbus/index.js';
import { within } from './helpers.js';

const server = new XenstoreServer();
test.after.always(() => server.close());

test('XenbusState matches xen/io/xenbus.h and parses only what it should', (t) => {
  const header: [string, number][] = [
    ['Unknown', 0], ['Initialising', 1], ['InitWait', 2], ['Initialised', 3], ['Connected', 4],
    ['Closing', 5], ['Closed', 6], ['Reconfiguring', 7], ['Reconfigured', 8],
  ];
  for (const [name, value] of header) {
    t.is(XenbusState[name as keyof typeof XenbusState], value);
    t.is(parseXenbusState(String(value)), value);
    t.is(xenbusStateName(value), name);
  }
  for (const bad of ['', '9', '-1', ' 4', '4 ', '4\n', '0x4', 'Connected', '4.0', '1e0', '123']) {
    t.is(parseXenbusState(bad), undefined, JSON.stringify(bad));
  }
});

test('watchXenbusState yields typed states, Unknown for garbage and undefined when the node goes', async (t) => {
  const xs = connectInProcess(server, 0);
  const path = '/xb/watch/state';
  try {
    await xs.write(path, '1');
    const watch = await watchXenbusState(xs, path);
    const it = watch[Symbol.asyncIterator]();
    const next = async () => (await within(it.next(), 5000, 'state')).value;
    t.is(await next(), XenbusState.Initialising);
    await xs.write(path, '1'); // same value: not repeated
    await xs.write(path, '4');
    t.is(await next(), XenbusState.Connected);
    await xs.write(path, 'bogus');
    t.is(await next(), XenbusState.Unknown);
    await xs.rm(path);
    t.is(await next(), undefined);
    await watch.close();
    t.true((await it.next()).done);
  } finally {
    await xs.close();
  }
});

test('waitForState resolves on the wanted state and times out with a typed error', async (t) => {
  const xs = connectInProcess(server, 0);
  const path = '/xb/wait/state';
  try {
    await xs.write(path, String(XenbusState.Initialising));
    const waiting = waitForState(xs, path, (s) => s === XenbusState.Connected, 5000);
    await xs.write(path, String(XenbusState.InitWait));
    await xs.write(path, String(XenbusState.Connected));
    t.is(await waiting, XenbusState.Connected);
    t.is(await waitForState(xs, path, (s) => s !== undefined && s >= XenbusState.InitWait, 5000), XenbusState.Connected, 'already there');
    const error = await t.throwsAsync(waitForState(xs, path, (s) => s === XenbusState.Closed, 50));
    t.true(error instanceof SplitblkError && error.code === XENBUS_TIMEOUT);
    t.is((error as SplitblkError).fields.last, XenbusState.Connected);
  } finally {
    await xs.close();
  }
});

test('switchState writes through a transaction and refuses a vanished node', async (t) => {
  const xs = connectInProcess(server, 0);
  const path = '/xb/switch/state';
  try {
    const missing = await t.throwsAsync(switchState(xs, path, XenbusState.Connected), { instanceOf: XsError });
    t.is(missing?.errno, 'ENOENT');
    t.is(await xs.readString(path), undefined, 'not recreated');
    t.is(await switchState(xs, path, XenbusState.Initialising, { create: true }), undefined);
    t.is(await xs.readString(path), '1');
    const watch = await xs.watch(path);
    const it = watch[Symbol.asyncIterator]();
    await it.next();
    t.is(await switchState(xs, path, XenbusState.Initialising), XenbusState.Initialising);
    t.is(await switchState(xs, path, XenbusState.Connected), XenbusState.Initialising);
    await xs.write(`${path}/sentinel`, '');
    // One event for the real switch, then the sentinel: the no-op switch did not write.
    t.is((await within(it.next(), 5000, 'event')).value?.path, path);
    t.is((await within(it.next(), 5000, 'event')).value?.path, `${path}/sentinel`);
    t.is(await xs.readString(path), '4');
    await watch.close();
  } finally {
    await xs.close();
  }
});
