import test, { type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { openHypervisor } from '../../src/hypervisor/hypervisor.js';
import { GTF_permit_access, GTF_reading, GTF_writing } from '../../src/hypervisor/grant-layout.js';
import { XenstoreServer } from '../../src/xenstore-sim/server/server.js';
import { createGuestConnector } from '../../src/xenstore-sim/ring/connector.js';
import { connectInProcess } from '../../src/xenstore-sim/client/in-process.js';
import { available } from '../helpers/ci.js';
import { cGuestDir, cToolchainMissing, compileC } from './gcc.js';
import { tempRundir } from './actor-client.js';
import { grantEntry } from './tables.js';

const missing = cToolchainMissing();
const buildDir = mkdtempSync(join(tmpdir(), 'splitblk-cguest-'));
const binary = join(buildDir, 'guest-selftest');
test.before(() => {
  if (missing !== undefined) return;
  compileC(['guest-selftest.c', 'splitblk-guest.c', 'splitblk-guest-xs.c'].map((f) => join(cGuestDir, f)), binary);
});
test.after.always(() => rmSync(buildDir, { recursive: true, force: true }));

/** Run the C guest against this process acting as dom0 (backend, and xenstored when `xs`). */
async function runCGuest(t: ExecutionContext, xs: boolean): Promise<void> {
  if (!available(t, missing)) return;
  const rundir = tempRundir();
  const hv = openHypervisor(rundir.dir);
  const { domid } = hv.createDomain({ name: 'c-guest', memoryMiB: 1 });
  let server: XenstoreServer | undefined;
  const connector = createGuestConnector(hv);
  if (xs) {
    server = new XenstoreServer({ guests: connector });
    const dom0 = connectInProcess(server, 0);
    await dom0.mkdir(`/local/domain/${domid}`);
    await dom0.setPerms(`/local/domain/${domid}`, [{ domid, perm: 'n' }]);
    await dom0.close();
    server.introduce(domid, hv.startInfo(domid)!.storeGfn, hv.startInfo(domid)!.storePort);
  }
  const evtchn = hv.openEventChannels(0);
  const child = spawn(binary, [rundir.dir, String(domid), ...(xs ? ['xs'] : [])], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
    server?.close();
    connector.close();
    evtchn.closeAll();
    hv.close();
    rundir.remove();
  });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const nextLine = async (): Promise<string> => {
    const next = await lines.next();
    if (next.done === true) throw new Error(`C guest ended early (exit ${await exited}): ${stderr}`);
    return next.value;
  };

  const [word, ref, gfn, guestPort] = (await nextLine()).split(' ').map((w, i) => (i === 0 ? w : Number(w))) as [
    string, number, number, number,
  ];
  t.is(word, 'ready');
  t.true(gfn >= 4);
  const port = evtchn.bindInterdomain(domid, guestPort);
  let events = 0;
  const evented = new Promise<void>((resolve) => evtchn.onEvent(port, () => (events++, resolve())));
  const mapping = hv.openGrantMapper(0).mapGrantRefs(domid, [ref], 1, true);
  const page = Buffer.from(mapping.buffer);
  t.is(page.toString('latin1', 0, 6), 'from C');
  page.write('from TS', 100, 'latin1');
  evtchn.notify(port);

  t.is(await nextLine(), 'busy');
  t.is(grantEntry(rundir.dir, domid, ref).flags, GTF_permit_access | GTF_reading | GTF_writing);
  mapping.unmap();
  evtchn.notify(port);
  t.is(await nextLine(), 'ended');
  await evented;
  t.true(events >= 1);
  t.is(grantEntry(rundir.dir, domid, ref).flags, 0);

  if (xs) {
    t.is(await nextLine(), 'xs ok data/watched');
    const dom0 = connectInProcess(server!, 0);
    t.is(await dom0.readString(`/local/domain/${domid}/data/hello`), 'world');
    await dom0.close();
  }
  t.is(await exited, 0, stderr);
}

test('a C guest built on splitblk-guest grants a page and signals a TypeScript backend', (t) => runCGuest(t, false));

test('the C guest library talks to xenstored over its ring page', (t) => runCGuest(t, true));
