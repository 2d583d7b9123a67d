/**
 * Acts as guest domain <domid> in its own process (run by guest-ring.test.ts): opens the
 * emulated hypervisor, reaches xenstored only through its xenstore ring page and event channel,
 * and reports what it saw as JSON lines on stdout. It waits for "go" lines on stdin between
 * steps that need the parent.
 */
import { createInterface } from 'node:readline';
import { openHypervisor } from '../../../src/hypervisor/hypervisor.js';
import { connectGuestRing } from '../../../src/xenstore-sim/client/guest.js';
import { XsError } from '../../../src/xenstore-sim/client/api.js';

const [rundir, domidText] = process.argv.slice(2);
const domid = Number(domidText);
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const say = (obj: unknown) => process.stdout.write(JSON.stringify(obj) + '\n');
const errno = (e: unknown) => (e instanceof XsError ? e.errno : String(e));

const hypervisor = openHypervisor(rundir!);
const xs = await connectGuestRing({ hypervisor, domid });
const home = await xs.getDomainPath(domid);
await xs.write('data/x', 'hello');
const absolute = await xs.readString(`${home}/data/x`);
const perms = await xs.getPerms('data/x');
const secret = await xs.read('/secret').then(() => 'read', errno);
const tx = await xs.transaction(async (t) => {
  await t.write('data/tx', 'in-tx');
  return t.readString('data/tx');
});
const watch = await xs.watch('data/w', 'guest-token');
const it = watch[Symbol.asyncIterator]();
const first = (await it.next()).value;
say({ step: 'watching', home, absolute, perms, secret, tx, first });
await lines.next(); // the parent wrote data/w
const second = (await it.next()).value;
const value = await xs.readString('data/w');
await watch.close();
say({ step: 'done', second, value });
await xs.close();
hypervisor.close();
process.exit(0);
