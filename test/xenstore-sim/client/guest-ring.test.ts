import test from 'ava';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { connectGuestRing } from '../../../src/xenstore-sim/client/guest.js';
import { XENSTORE_ERROR_PROTO, XENSTORE_ERROR_RINGIDX, XS_RING_PAGE_SIZE, XsRingOffset } from '../../../src/xenstore-sim/ring/layout.js';
import { XsRingPage } from '../../../src/xenstore-sim/ring/page.js';
import type { ByteStream } from '../../../src/xenstore-sim/server/stream.js';
import { encodePacket, nulTerminated } from '../../../src/xenstore-sim/wire/serializer.js';
import { XsType } from '../../../src/xenstore-sim/wire/messages.js';
import { introduceGuest } from '../../helpers/guest-domain.js';
import { openXenEnv } from '../../helpers/xen-env.js';
import { available } from '../../helpers/ci.js';
import { nativeMissing } from '../../helpers/native.js';
import { within } from './helpers.js';

/*
 * Guests talk to our daemon through their xenstore ring page in emulated guest memory, woken
 * by emulated event channels: INTRODUCE maps the page (ForeignMemory) and binds the port.
 */
const CHILD = fileURLToPath(new URL('./guest-child.js', import.meta.url));

/** The in-process stack, remembering the ring stream the server opened for each guest. */
async function setup() {
  const streams = new Map<number, ByteStream>();
  const xen = await openXenEnv('xsg-', (connector) => ({
    onDomainGone: (cb) => connector.onDomainGone(cb),
    connect(domid, gfn, port) {
      const stream = connector.connect(domid, gfn, port);
      streams.set(domid, stream);
      return stream;
    },
  }));
  const { rundir, hypervisor, server, dom0 } = xen;
  const newGuest = async () => {
    const info = hypervisor.createDomain({ memoryMiB: 1 });
    return introduceGuest(dom0, hypervisor, info.domid);
  };
  return { rundir, hypervisor, server, dom0, streams, newGuest, teardown: () => xen.close() };
}

test('a guest process reads, writes, transacts and watches through its ring', async (t) => {
  if (!available(t, nativeMissing())) return;
  const env = await setup();
  try {
    await env.dom0.write('/secret', 'dom0 only');
    const guest = await env.newGuest();
    const proc = spawn(process.execPath, [CHILD, env.rundir, String(guest.domid)], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const out = createInterface({ input: proc.stdout })[Symbol.asyncIterator]();
    const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
    try {
      const step1 = JSON.parse((await within(out.next(), 15_000, `guest step 1 ${stderr}`)).value as string);
      const home = `/local/domain/${guest.domid}`;
      t.deepEqual(step1, {
        step: 'watching',
        home,
        absolute: 'hello',
        perms: [{ domid: guest.domid, perm: 'n' }],
        secret: 'EACCES',
        tx: 'in-tx',
        first: { path: 'data/w', token: 'guest-token' },
      });
      t.is(await env.dom0.readString(`${home}/data/x`), 'hello');
      await env.dom0.write(`${home}/data/w`, 'ping');
      proc.stdin.write('go\n');
      const step2 = JSON.parse((await within(out.next(), 15_000, `guest step 2 ${stderr}`)).value as string);
      t.deepEqual(step2, { step: 'done', second: { path: 'data/w', token: 'guest-token' }, value: 'ping' });
      t.is(await within(exited, 10_000, 'guest exit'), 0);
    } finally {
      proc.kill('SIGKILL');
    }
  } finally {
    await env.teardown();
  }
});

const hostile: [string, (page: XsRingPage) => void][] = [
  ['garbage indices (req_prod - req_cons > 1024)', (page) => {
    page.storeWord(XsRingOffset.reqProd, page.loadWord(XsRingOffset.reqCons) + 5000);
  }],
  ['a lying length (len 5000 > XENSTORE_PAYLOAD_MAX)', (page) => {
    const frame = encodePacket(XsType.Read, 1, 0, nulTerminated('/x'));
    frame.writeUInt32LE(5000, 12);
    page.produce({ name: 'req', dataOffset: XsRingOffset.req, consWord: XsRingOffset.reqCons / 4, prodWord: XsRingOffset.reqProd / 4 }, frame, 0);
  }],
];

for (const [name, attack] of hostile) {
  test(`hostile guest ring: ${name} closes that connection only`, async (t) => {
    if (!available(t, nativeMissing())) return;
    const env = await setup();
    try {
      const bad = await env.newGuest();
      const good = await env.newGuest();
      const goodClient = await connectGuestRing({ hypervisor: env.hypervisor, domid: good.domid });
      await goodClient.write('ok', '1');

      // The hostile guest scribbles on its own page and rings the daemon.
      const memory = env.hypervisor.openGuestMemory(bad.domid);
      const evtchns = env.hypervisor.openEventChannels(bad.domid);
      const page = new XsRingPage(memory.buffer, bad.storeGfn * XS_RING_PAGE_SIZE);
      const daemonSide = env.streams.get(bad.domid)!;
      const closed = new Promise<void>((resolve) => daemonSide.onClose(resolve));
      attack(page);
      evtchns.notify(bad.storePort);
      await within(closed, 5000, 'daemon closing the hostile ring');
      // C's ignore_connection() reports why in the page: bad indices, or a bad frame.
      t.is(page.loadWord(XsRingOffset.error), name.startsWith('garbage') ? XENSTORE_ERROR_RINGIDX : XENSTORE_ERROR_PROTO);

      // Everyone else carries on.
      t.is(await within(goodClient.readString('ok'), 5000, 'good guest'), '1');
      t.is(await within(env.dom0.readString(`/local/domain/${good.domid}/ok`), 5000, 'dom0'), '1');
      await goodClient.close();
      evtchns.closeAll();
      memory.close();
    } finally {
      await env.teardown();
    }
  });
}

test('a guest that dies is released: @releaseDomain fires and it is no longer introduced', async (t) => {
  if (!available(t, nativeMissing())) return;
  const env = await setup();
  try {
    const guest = await env.newGuest();
    const client = await connectGuestRing({ hypervisor: env.hypervisor, domid: guest.domid });
    const released = await env.dom0.watch('@releaseDomain');
    try {
      await client.write('data', 'x');
      const it = released[Symbol.asyncIterator]();
      t.is((await within(it.next(), 5000, 'registration')).value?.path, '@releaseDomain');
      env.hypervisor.destroyDomain(guest.domid);
      t.is((await within(it.next(), 5000, '@releaseDomain after destroy')).value?.path, '@releaseDomain');
      t.false(await env.dom0.isDomainIntroduced(guest.domid));
      t.is(await env.dom0.readString(`/local/domain/${guest.domid}/data`), undefined, 'its nodes went with it');
    } finally {
      await released.close();
      await client.close();
    }
  } finally {
    await env.teardown();
  }
});

test('requests a guest writes before INTRODUCE are wiped by it, as C resets the ring; later ones are answered', async (t) => {
  if (!available(t, nativeMissing())) return;
  const env = await setup();
  try {
    const info = env.hypervisor.createDomain({ memoryMiB: 1 });
    const guest = await connectGuestRing({ hypervisor: env.hypervisor, domid: info.domid });
    try {
      // The request goes into the ring at once; nobody is bound to the port yet. C's
      // domain_conn_reset() at INTRODUCE sets all four indices to 0: it is never read.
      const early = guest.getDomainPath(info.domid).then(() => 'answered', () => 'rejected');
      const start = env.hypervisor.startInfo(info.domid)!;
      await env.dom0.introduce(info.domid, start.storeGfn, start.storePort);
      t.is(await guest.getDomainPath(info.domid), `/local/domain/${info.domid}`);
      t.is(await Promise.race([early, new Promise((r) => setTimeout(() => r('not answered'), 300))]), 'not answered');
    } finally {
      await guest.close();
    }
  } finally {
    await env.teardown();
  }
});
