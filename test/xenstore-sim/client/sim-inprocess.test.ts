import test from 'ava';
import { connectInProcess } from '../../../src/xenstore-sim/client/in-process.js';
import { XenstoreServer } from '../../../src/xenstore-sim/server/index.js';
import { clientSuite } from './suite.js';

// The client wired straight into our server in this process (real framing, no socket).
const server = new XenstoreServer();

test.after.always(() => {
  server.close();
});

clientSuite(test, 'sim in-process', {
  available: () => true,
  connect: async (opts) => connectInProcess(server, 0, opts),
});
