import test from 'ava';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { XenstoreServer, listenUnix } from '../../../src/xenstore-sim/server/index.js';
import { LIBXENSTORE, need, oracleAvailable, shortTempDir, startOracle } from './helpers.js';

/*
 * The real libxenstore (Debian's Xen 4.17) talks to our daemon: a child process (so that
 * XENSTORED_PATH stays out of this process's environment and libxenstore may block) drives it
 * through koffi. The same script against the real C xenstored gives the reference answers.
 */
const run = promisify(execFile);
const CHILD = fileURLToPath(new URL('./libxenstore-child.js', import.meta.url));

async function drive(socketPath: string, root: string): Promise<Record<string, unknown>> {
  const { stdout } = await run(process.execPath, [CHILD, LIBXENSTORE, root], {
    env: { ...process.env, XENSTORED_PATH: socketPath },
    timeout: 20_000,
  });
  return JSON.parse(stdout) as Record<string, unknown>;
}

const EXPECTED = {
  write: true,
  read: 'hello',
  readMissing: 'error:ENOENT',
  mkdir: true,
  directory: ['a', 'd'],
  txRead: 'hello',
  txSeesOwn: 'from-tx',
  outsideSeesOld: 'hello',
  txConflict: 'error:EAGAIN',
  txCommit: 'committed',
  afterTx: 'second',
  txAbort: true,
  afterAbort: 'error:ENOENT',
  watch: true,
  events: [['/lx/w', 'tok'], ['/lx/w/x', 'tok'], ['/lx/w', 'tok']],
  unwatch: true,
  setPerms: true,
  getPerms: [[3, 1], [5, 3]],
  getPermsMissing: 'error:ENOENT',
  domainPath: '/local/domain/7',
  rm: true,
};

test('libxenstore against our daemon: reads, writes, transactions, watches, permissions', async (t) => {
  if (!need(t, existsSync(LIBXENSTORE), `${LIBXENSTORE} missing (apt-get install libxenstore4)`)) return;
  const tmp = await shortTempDir('xsl');
  const server = new XenstoreServer();
  const listener = await listenUnix(server, `${tmp.dir}/socket`);
  try {
    t.deepEqual(await drive(listener.path, '/lx'), EXPECTED);
  } finally {
    await listener.close();
    await tmp.remove();
  }
});

test('libxenstore against the real C xenstored gives the same answers (reference)', async (t) => {
  if (!need(t, existsSync(LIBXENSTORE) && oracleAvailable(), 'libxenstore or the C xenstored oracle is not installed')) return;
  const daemon = await startOracle();
  try {
    t.deepEqual(await drive(daemon.socket, '/lx'), EXPECTED);
  } finally {
    await daemon.stop();
  }
});
