/**
 * A real environment for the frontend tests, in one process: the emulated hypervisor on a
 * per-test run directory under /dev/shm, our xenstored (XenstoreServer) with guest ring
 * connections, a dom0 client, and a guest domain introduced to xenstored.
 */
import type { ExecutionContext } from 'ava';
import type { EmulatedHypervisor } from '../../src/hypervisor/hypervisor.js';
import type { XsClient } from '../../src/xenstore-sim/client/api.js';
import { openGuest, type GuestHandles } from '../../src/blkfront/guest.js';
import { available } from '../helpers/ci.js';
import { introduceGuest } from '../helpers/guest-domain.js';
import { nativeMissing } from '../helpers/native.js';
import { openXenEnv } from '../helpers/xen-env.js';
import { createVbdNodes, RamBackend, type RamBackendOptions } from './ram-backend.js';

export interface Env {
  rundir: string;
  hypervisor: EmulatedHypervisor;
  dom0: XsClient;
  domid: number;
  guest: GuestHandles;
  addDisk(devid: number, opts: RamBackendOptions): Promise<RamBackend>;
}


/** Whether the addon is built; fails under CI, else logs and passes. */
export function needNative(t: ExecutionContext): boolean {
  return available(t, nativeMissing());
}

export async function setupEnv(t: ExecutionContext, memoryMiB = 64): Promise<Env> {
  const xen = await openXenEnv('sbf-');
  const { rundir, hypervisor, dom0 } = xen;
  const backends: RamBackend[] = [];
  let guest: GuestHandles | undefined;
  t.teardown(async () => {
    for (const b of backends) await b.stop().catch(() => undefined);
    await guest?.close();
    await xen.close();
  });
  const info = hypervisor.createDomain({ memoryMiB });
  await introduceGuest(dom0, hypervisor, info.domid);
  guest = await openGuest(hypervisor, info.domid);
  return {
    rundir,
    hypervisor,
    dom0,
    domid: info.domid,
    guest,
    async addDisk(devid, opts) {
      await createVbdNodes(dom0, info.domid, devid);
      const backend = new RamBackend(hypervisor, dom0, info.domid, devid, opts);
      backends.push(backend);
      await backend.start();
      return backend;
    },
  };
}
