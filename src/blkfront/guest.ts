/**
 * The handles a guest's blkfront needs, opened from the hypervisor of a run directory: its
 * memory, grant table and event channels, and a xenstore client over its own xenstore ring page
 * (as a Xen guest's xenbus driver talks to xenstored). One process acts as a domain at a time.
 */
import type { Hypervisor } from '../hypervisor/api.js';
import { connectGuestRing } from '../xenstore-sim/client/guest.js';
import { SplitblkError } from '../util/errors.js';
import type { BlkfrontDeps } from './blkfront.js';

export interface GuestHandles extends BlkfrontDeps {
  close(): Promise<void>;
}

export async function openGuest(hypervisor: Hypervisor, domid: number): Promise<GuestHandles> {
  const start = hypervisor.startInfo(domid);
  if (start === undefined) throw new SplitblkError('SPLITBLK_ERR_NO_DOMAIN', `domain ${domid} does not exist`, { domid });
  const memory = hypervisor.openGuestMemory(domid);
  const closers: Array<() => unknown> = [() => memory.close()];
  const closeAll = async () => {
    // Idempotent: the list is emptied as it runs.
    for (const close of closers.splice(0).reverse()) {
      try {
        await close();
      } catch {
        // Best effort: the domain may be going away under us.
      }
    }
  };
  try {
    const grants = hypervisor.openGrantTable(domid);
    closers.push(() => grants.close());
    const evtchns = hypervisor.openEventChannels(domid);
    closers.push(() => evtchns.closeAll());
    const xs = await connectGuestRing({ domid, storeGfn: start.storeGfn, storePort: start.storePort, memory, evtchns });
    closers.push(() => xs.close());
    // Watches belong to the domain's xenstore connection, not to a process: drop those a
    // previous guest process left behind, as Linux's xenbus does when it starts.
    await xs.resetWatches();
    return { memory, grants, evtchns, xs, close: closeAll };
  } catch (error) {
    await closeAll();
    throw error;
  }
}
