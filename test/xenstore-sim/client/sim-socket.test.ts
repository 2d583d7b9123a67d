import test, { type ExecutionContext } from 'ava';
import { connectSocket } from '../../../src/xenstore-sim/client/socket.js';
import { openXenstore } from '../../../src/xenstore-sim/client/open.js';
import { startSim, type Daemon } from './helpers.js';
import { clientSuite } from './suite.js';

// The client against our daemon as a separate process: `splitblk xenstored --socket`.
let daemon: Daemon | undefined;
let startError: string | undefined;

test.before(async () => {
  try {
    daemon = await startSim();
  } catch (error) {
    startError = (error as Error).message;
  }
});

test.after.always(async () => {
  await daemon?.stop();
});

const available = (t: ExecutionContext) => {
  if (daemon === undefined) t.fail(`splitblk xenstored did not start: ${startError}`);
  return daemon !== undefined;
};

clientSuite(test, 'splitblk xenstored', {
  available,
  connect: (opts) => connectSocket(daemon!.socket, opts),
});

test('openXenstore finds the socket from a xenstored run directory', async (t) => {
  if (!available(t)) return;
  const xs = await openXenstore({ xenstoredRundir: daemon!.dir });
  try {
    t.is(xs.domid, 0);
    await xs.write('/open-test', 'x');
    t.is(await xs.readString('/open-test'), 'x');
  } finally {
    await xs.close();
  }
  const missing = await t.throwsAsync(openXenstore({ socketPath: `${daemon!.dir}/nope` }));
  t.is((missing as { code?: string }).code, 'SPLITBLK_ERR_XS_CONNECT');
});
