import test from 'ava';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { Hypervisor } from '../../src/hypervisor/api.js';
import { openHypervisor } from '../../src/hypervisor/hypervisor.js';
import { connectGuestRing } from '../../src/xenstore-sim/client/guest.js';
import { XsType as T } from '../../src/xenstore-sim/wire/messages.js';
import { available } from '../helpers/ci.js';
import { nativeMissing } from '../helpers/native.js';
import { RawClient, strings } from './helpers/raw-client.js';

/*
 * The daemon process with a run directory: dom0 introduces a guest over the socket, the guest
 * talks through its ring page in emulated memory, and its death releases it.
 */
const SPLITBLK = fileURLToPath(new URL('../../../bin/splitblk.js', import.meta.url));

/** The daemon process on a fresh run directory, and the hypervisor emulation there. */
async function daemonOnRundir(prefix: string, extraArgs: string[] = []): Promise<{ socket: string; hypervisor: Hypervisor; stop(): Promise<void> }> {
  const rundir = await mkdtemp(`/dev/shm/${prefix}`);
  mkdirSync(`${rundir}/xenstored`);
  const socket = `${rundir}/xenstored/socket`;
  const hypervisor = openHypervisor(rundir);
  const daemon = spawn(process.execPath, [SPLITBLK, 'xenstored', '--socket', socket, ...extraArgs], { stdio: ['ignore', 'ignore', 'inherit'] });
  const exited = new Promise((r) => daemon.once('exit', r));
  for (let i = 0; i < 500 && !existsSync(socket); i++) await new Promise((r) => setTimeout(r, 10));
  return {
    socket,
    hypervisor,
    async stop() {
      daemon.kill('SIGTERM');
      await exited;
      hypervisor.close();
      await rm(rundir, { recursive: true, force: true });
    },
  };
}

test('a guest introduced over the socket is served over its ring; its death releases it', async (t) => {
  if (!available(t, nativeMissing())) return;
  const { socket, hypervisor, stop } = await daemonOnRundir('xsdg-');
  try {
    const dom0 = await RawClient.unix(socket);
    const info = hypervisor.createDomain({ memoryMiB: 1 });
    const start = hypervisor.startInfo(info.domid)!;
    const home = `/local/domain/${info.domid}`;
    await dom0.request(T.Mkdir, strings(home));
    await dom0.request(T.SetPerms, strings(home, `n${info.domid}`));
    await dom0.request(T.Watch, strings('@releaseDomain', 'rel'));
    const intro = await dom0.request(T.Introduce, strings(String(info.domid), String(start.storeGfn), String(start.storePort)));
    t.is(intro.reply?.payload.toString('latin1'), 'OK\0');

    const guest = await connectGuestRing({ hypervisor, domid: info.domid });
    await guest.write('device/state', '1');
    t.is(await guest.readString(`${home}/device/state`), '1');
    t.is(await guest.read('/tool').then(() => 'read', (e: { errno: string }) => e.errno), 'EACCES');
    await guest.close();
    t.is((await dom0.request(T.Read, strings(`${home}/device/state`))).reply?.payload.toString('latin1'), '1');

    // The registration event came with the WATCH; the next is the release.
    hypervisor.destroyDomain(info.domid);
    let released = false;
    for (let i = 0; i < 300 && !released; i++) {
      await new Promise((r) => setTimeout(r, 10));
      released = (await dom0.sync()).some((e) => e.payload.toString('latin1') === '@releaseDomain\0rel\0');
    }
    t.true(released);
    t.is((await dom0.request(T.Read, strings(home))).reply?.payload.toString('latin1'), 'ENOENT\0');
    dom0.close();
  } finally {
    await stop();
  }
});

/*
 * On a hypervisor, C's SET_PERMS looks each domid up (domain_alloc_permrefs()): an owner that
 * does not exist is ENOENT; another entry is kept but ignored (XS_PERM_IGNORE), so a domain
 * created later with that id gets nothing from it. The oracle's fake hypervisor has every
 * domain, so this is checked against the emulation's domain list, not against C.
 */
test('permission entries naming domains the hypervisor does not have are ignored; such an owner is ENOENT', async (t) => {
  if (!available(t, nativeMissing())) return;
  const { socket, hypervisor, stop } = await daemonOnRundir('xsdp-', ['--warm-up-ms', '0']);
  const reply = async (dom0: RawClient, type: number, ...args: string[]): Promise<string> =>
    (await dom0.request(type, strings(...args))).reply?.payload.toString('latin1') ?? '(none)';
  try {
    const dom0 = await RawClient.unix(socket);
    const early = hypervisor.createDomain({ memoryMiB: 1 });
    const late = early.domid + 7;
    t.is(await reply(dom0, T.Write, '/perm', ''), 'OK\0');
    t.is(await reply(dom0, T.SetPerms, '/perm', 'n0', `r${early.domid}`, `r${late}`), 'OK\0');
    t.is(await reply(dom0, T.GetPerms, '/perm'), `n0\0r${early.domid}\0r${late}\0`);
    t.is(await reply(dom0, T.SetPerms, '/perm', `n${late}`), 'ENOENT\0');
    t.is(await reply(dom0, T.SetPerms, '/perm', `x${late}`), 'EINVAL\0');

    // Both domains run and are introduced: only the one that existed at SET_PERMS may read.
    hypervisor.createDomain({ domid: late, memoryMiB: 1 });
    for (const domid of [early.domid, late]) {
      const start = hypervisor.startInfo(domid)!;
      t.is(await reply(dom0, T.Introduce, String(domid), String(start.storeGfn), String(start.storePort)), 'OK\0');
    }
    const readAs = async (domid: number): Promise<string> => {
      const guest = await connectGuestRing({ hypervisor, domid });
      try {
        return await guest.read('/perm').then(() => 'read', (e: { errno: string }) => e.errno);
      } finally {
        await guest.close();
      }
    };
    t.is(await readAs(early.domid), 'read');
    t.is(await readAs(late), 'EACCES');
    // Named again now that it exists, it counts.
    t.is(await reply(dom0, T.SetPerms, '/perm', 'n0', `r${late}`), 'OK\0');
    t.is(await readAs(late), 'read');
    dom0.close();
  } finally {
    await stop();
  }
});
