import type { EventChannels, GuestMemory, Hypervisor } from '../../hypervisor/api.js';
import { SplitblkError } from '../../util/errors.js';
import { openGuestRingStream } from '../ring/connector.js';
import type { RingStreamOptions } from '../ring/stream.js';
import { XsClientImpl, type ClientOptions } from './client.js';

export type GuestRingClientOptions = ClientOptions & RingStreamOptions & { domid: number } & (
  /**
   * Open the guest's memory and event channels from the hypervisor (closed with the client).
   * storeGfn and storePort default to the domain's start info.
   */
  | { hypervisor: Hypervisor; storeGfn?: number; storePort?: number; memory?: undefined; evtchns?: undefined }
  /** Use handles the caller already holds (left open when the client closes). */
  | {
    memory: GuestMemory;
    evtchns: EventChannels;
    /** The guest frame of the xenstore page (what the toolstack passes to INTRODUCE). */
    storeGfn: number;
    /** The guest's own event-channel port for xenstore (unbound, offered to dom0). */
    storePort: number;
    hypervisor?: undefined;
  }
);

/**
 * Act as guest `domid` talking to xenstored through its xenstore ring page, the way a Xen
 * guest's xenbus driver does. The daemon must have been told of the page (INTRODUCE domid
 * storeGfn storePort) for replies to come; requests written before that wait in the ring.
 */
export async function connectGuestRing(opts: GuestRingClientOptions): Promise<XsClientImpl> {
  let stream;
  if (opts.hypervisor !== undefined) {
    const info = opts.hypervisor.startInfo(opts.domid);
    const storeGfn = opts.storeGfn ?? info?.storeGfn;
    const storePort = opts.storePort ?? info?.storePort;
    if (storeGfn === undefined || storePort === undefined) {
      throw new SplitblkError('SPLITBLK_ERR_NO_DOMAIN', `domain ${opts.domid} has no start info (store page and port)`, { domid: opts.domid });
    }
    const memory = opts.hypervisor.openGuestMemory(opts.domid);
    let evtchns: EventChannels;
    try {
      evtchns = opts.hypervisor.openEventChannels(opts.domid);
    } catch (error) {
      memory.close();
      throw error;
    }
    try {
      stream = openGuestRingStream({ ...opts, storeGfn, storePort, memory, evtchns, ownsHandles: true });
    } catch (error) {
      evtchns.closeAll();
      memory.close();
      throw error;
    }
  } else {
    stream = openGuestRingStream({ ...opts, memory: opts.memory, evtchns: opts.evtchns, ownsHandles: false });
  }
  return new XsClientImpl(stream, opts.domid, opts);
}
