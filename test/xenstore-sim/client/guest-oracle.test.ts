import test from 'ava';
import { closeSync, constants, openSync, writeSync } from 'node:fs';
import { native } from '../../../src/native/index.js';
import { XsError, type XsClient } from '../../../src/xenstore-sim/client/api.js';
import { XsClientImpl } from '../../../src/xenstore-sim/client/client.js';
import { connectSocket } from '../../../src/xenstore-sim/client/socket.js';
import { connectGuestRing } from '../../../src/xenstore-sim/client/guest.js';
import type { RingDoorbell } from '../../../src/xenstore-sim/ring/doorbell.js';
import { RingByteStream, XsRingPage } from '../../../src/xenstore-sim/ring/stream.js';
import { available } from '../../helpers/ci.js';
import { nativeMissing } from '../../helpers/native.js';
import { openXenEnv } from '../../helpers/xen-env.js';
import { need, oracleAvailable, startOracle, waitForPath, within } from './helpers.js';

/*
 * Differential: the same guest scenario through a guest ring, against the real C xenstored
 * (its fake ring file, see the oracle's README) and against our daemon (emulated guest memory
 * and event channels). The answers must be the same.
 */
const DOMID = 5;

async function scenario(guest: XsClient, dom0: XsClient, domid: number): Promise<Record<string, unknown>> {
  const errno = (e: unknown) => (e instanceof XsError ? e.errno : String(e));
  const out: Record<string, unknown> = {};
  out.home = await guest.getDomainPath(domid);
  await guest.write('data/x', 'hello');
  out.absolute = await dom0.readString(`/local/domain/${domid}/data/x`);
  out.perms = await guest.getPerms('data/x');
  out.secret = await guest.read('/secret').then(() => 'read', errno);
  out.rootWrite = await guest.write('/guest-was-here', 'x').then(() => 'written', errno);
  out.tx = await guest.transaction(async (tx) => {
    await tx.write('data/tx', 'in-tx');
    return tx.readString('data/tx');
  });
  out.directory = (await guest.directory('data')).sort();
  const watch = await guest.watch('data/w', 'gt');
  const it = watch[Symbol.asyncIterator]();
  out.first = (await within(it.next(), 5000, 'first event')).value;
  await dom0.write(`/local/domain/${domid}/data/w`, 'ping');
  out.second = (await within(it.next(), 5000, 'second event')).value;
  await watch.close();
  out.introduced = await dom0.isDomainIntroduced(domid);
  return out;
}

const EXPECTED = {
  home: `/local/domain/${DOMID}`,
  absolute: 'hello',
  perms: [{ domid: DOMID, perm: 'n' }],
  secret: 'EACCES',
  rootWrite: 'EACCES',
  tx: 'in-tx',
  directory: ['tx', 'x'],
  first: { path: 'data/w', token: 'gt' },
  second: { path: 'data/w', token: 'gt' },
  introduced: true,
};

async function prepareHome(dom0: XsClient, domid: number): Promise<void> {
  await dom0.write('/secret', 'dom0 only');
  await dom0.mkdir(`/local/domain/${domid}`);
  await dom0.setPerms(`/local/domain/${domid}`, [{ domid, perm: 'n' }]);
}

/**
 * The oracle's event channel: we wake C xenstored by writing port 1000+domid to its FIFO; it
 * never wakes us (the shim's notify does nothing), so we poll, as its ring.py does.
 */
function oracleDoorbell(fifo: string, domid: number, pollMs: number): RingDoorbell {
  const fd = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
  const word = Buffer.alloc(4);
  word.writeUInt32LE(1000 + domid);
  let timer: NodeJS.Timeout | undefined;
  return {
    notify: () => void writeSync(fd, word),
    listen: (handler) => {
      timer = setInterval(handler, pollMs);
    },
    close: () => {
      clearInterval(timer);
      closeSync(fd);
    },
  };
}

test('guest ring scenario against the real C xenstored', async (t) => {
  if (!need(t, oracleAvailable() && nativeMissing() === undefined, 'the C xenstored oracle or the native addon is missing')) return;
  const daemon = await startOracle();
  const dom0 = await connectSocket(daemon.socket);
  let guest: XsClient | undefined;
  try {
    await prepareHome(dom0, DOMID);
    await dom0.introduce(DOMID, 0, 1);
    const ringFile = `${daemon.dir}/fx/ring-${DOMID}`;
    await waitForPath(ringFile, 5000);
    const file = native.shm.open(ringFile, { writable: true });
    const mapping = file.map(0, 4096, true);
    file.close();
    const stream = new RingByteStream(new XsRingPage(mapping.buffer), 'guest', oracleDoorbell(`${daemon.dir}/fx/evtchn`, DOMID, 2));
    stream.onClose(() => mapping.close());
    guest = new XsClientImpl(stream, DOMID);
    t.deepEqual(await scenario(guest, dom0, DOMID), EXPECTED);
  } finally {
    await guest?.close();
    await dom0.close();
    await daemon.stop();
  }
});

test('guest ring scenario against our daemon', async (t) => {
  if (!available(t, nativeMissing())) return;
  const xen = await openXenEnv('xsg-');
  const { hypervisor, dom0 } = xen;
  let guest: XsClient | undefined;
  try {
    const info = hypervisor.createDomain({ domid: DOMID, memoryMiB: 1 });
    const start = hypervisor.startInfo(info.domid)!;
    await prepareHome(dom0, DOMID);
    await dom0.introduce(DOMID, start.storeGfn, start.storePort);
    guest = await connectGuestRing({ hypervisor, domid: DOMID });
    t.deepEqual(await scenario(guest, dom0, DOMID), EXPECTED);
  } finally {
    await guest?.close();
    await xen.close();
  }
});
