import test from 'ava';
import { connectSocket } from '../../../src/xenstore-sim/client/socket.js';
import { oracleAvailable, startOracle, type Daemon } from './helpers.js';
import { available as toolAvailable } from '../../helpers/ci.js';
import { clientSuite } from './suite.js';

// The client against the real C xenstored 4.17: the reference behaviour.
let daemon: Daemon | undefined;
let startError: string | undefined;

test.before(async () => {
  if (!oracleAvailable()) {
    startError = 'the C xenstored oracle (xen-utils-4.17, gcc) is not installed';
    return;
  }
  daemon = await startOracle();
});

test.after.always(async () => {
  await daemon?.stop();
});

clientSuite(test, 'C xenstored', {
  available: (t) => toolAvailable(t, daemon !== undefined ? undefined : startError ?? 'the oracle did not start'),
  connect: (opts) => connectSocket(daemon!.socket, opts),
});
