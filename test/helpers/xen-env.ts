/**
 * The in-process stack most guest-side tests start from: the emulated hypervisor on a fresh run
 * directory under /dev/shm, our xenstored (XenstoreServer) reaching guests through their ring
 * pages, and a dom0 client. close() takes it all down and removes the run directory.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { openHypervisor, type EmulatedHypervisor } from '../../src/hypervisor/hypervisor.js';
import type { XsClient } from '../../src/xenstore-sim/client/api.js';
import { connectInProcess } from '../../src/xenstore-sim/client/in-process.js';
import { createGuestConnector, type RingGuestConnector } from '../../src/xenstore-sim/ring/connector.js';
import { XenstoreServer } from '../../src/xenstore-sim/server/server.js';
import type { GuestConnector } from '../../src/xenstore-sim/server/stream.js';

export interface XenEnv {
  rundir: string;
  hypervisor: EmulatedHypervisor;
  connector: RingGuestConnector;
  server: XenstoreServer;
  dom0: XsClient;
  close(): Promise<void>;
}

/**
 * Open the stack in /dev/shm/<prefix>XXXXXX. `guests` may wrap the ring connector the server
 * uses (to watch the streams it makes); by default the server uses it as it is.
 */
export async function openXenEnv(prefix: string, guests: (connector: RingGuestConnector) => GuestConnector = (c) => c): Promise<XenEnv> {
  const rundir = await mkdtemp(`/dev/shm/${prefix}`);
  const hypervisor = openHypervisor(rundir);
  const connector = createGuestConnector(hypervisor);
  const server = new XenstoreServer({ guests: guests(connector) });
  const dom0 = connectInProcess(server, 0);
  return {
    rundir,
    hypervisor,
    connector,
    server,
    dom0,
    async close() {
      await dom0.close();
      server.close();
      connector.close();
      hypervisor.close();
      await rm(rundir, { recursive: true, force: true });
    },
  };
}
