import type { EventChannels, ForeignMemory, GuestMemory, Hypervisor } from '../../hypervisor/api.js';
import { SplitblkError } from '../../util/errors.js';
import type { GuestConnector } from '../server/stream.js';
import { evtchnDoorbell } from './doorbell.js';
import { XS_RING_PAGE_SIZE } from './layout.js';
import { DaemonRingStream, GuestRingStream, XsRingPage, type RingByteStream, type RingStreamOptions } from './stream.js';

/** A GuestConnector that can also drop its dom0 event-channel handle. */
export interface RingGuestConnector extends GuestConnector {
  onDomainGone(cb: (domid: number) => void): void;
  onDomainShutdown(cb: (domid: number) => void): void;
  domainExists(domid: number): boolean;
  /** Stop watching domains and close the dom0 event-channel handle. */
  close(): void;
}

export interface GuestConnectorOptions extends RingStreamOptions {
  /**
   * How often to look for connected domains that died or shut down (C xenstored learns it from
   * VIRQ_DOM_EXC; the emulation has no such interrupt, so we poll the domain info).
   */
  domainPollMs?: number;
}

const DOMAIN_POLL_MS_DEFAULT = 250;

/**
 * The daemon's side of XS_INTRODUCE: map guest `domid`'s xenstore page `gfn` with privileged
 * foreign mapping (as C xenstored does with xenforeignmemory / the grant of GNTTAB_RESERVED_XENSTORE)
 * and bind to the guest's unbound port through dom0's event-channel handle. The returned stream
 * is the daemon end of the ring; closing it unmaps the page and closes the local port.
 */
export function createGuestConnector(hypervisor: Hypervisor, opts: GuestConnectorOptions = {}): RingGuestConnector {
  // Opened on first use, so a daemon that never sees a guest never touches the run directory.
  let evtchns: EventChannels | undefined;
  let foreign: ForeignMemory | undefined;
  const connected = new Set<number>();
  /** Connected domains seen shut down (reported once until they run again). */
  const shutDown = new Set<number>();
  let goneCb: ((domid: number) => void) | undefined;
  let shutdownCb: ((domid: number) => void) | undefined;
  let timer: NodeJS.Timeout | undefined;
  const poll = () => {
    for (const domid of connected) {
      const info = hypervisor.domainInfo(domid);
      if (info === undefined || info.dying) {
        connected.delete(domid);
        shutDown.delete(domid);
        goneCb?.(domid);
      } else if (!info.shutdown) {
        shutDown.delete(domid);
      } else if (!shutDown.has(domid)) {
        shutDown.add(domid);
        shutdownCb?.(domid);
      }
    }
  };
  const startPolling = () => {
    if (timer !== undefined) return;
    timer = setInterval(poll, opts.domainPollMs ?? DOMAIN_POLL_MS_DEFAULT);
    // Watching guests must not keep a daemon alive that has nothing else to do.
    timer.unref();
  };
  return {
    onDomainGone(cb) {
      goneCb = cb;
      startPolling();
    },
    onDomainShutdown(cb) {
      shutdownCb = cb;
      startPolling();
    },
    domainExists(domid) {
      return hypervisor.domainInfo(domid) !== undefined;
    },
    connect(domid, gfn, port) {
      foreign ??= hypervisor.openForeignMemory();
      const mapping = foreign.map(domid, [gfn], 1, true);
      let local: number;
      try {
        evtchns ??= hypervisor.openEventChannels(0);
        local = evtchns.bindInterdomain(domid, port);
      } catch (error) {
        mapping.unmap();
        throw error;
      }
      const page = new XsRingPage(mapping.buffer, 0);
      const stream = new DaemonRingStream(page, evtchnDoorbell(evtchns, local, 'port'), opts);
      // Tracked until the domain goes, even when its ring breaks first: a dead guest is still
      // released (its nodes removed, @releaseDomain fired).
      connected.add(domid);
      stream.onClose(() => mapping.unmap());
      return stream;
    },
    close() {
      clearInterval(timer);
      timer = undefined;
      connected.clear();
      shutDown.clear();
      evtchns?.closeAll();
      evtchns = undefined;
    },
  };
}

export interface GuestRingOptions extends RingStreamOptions {
  /** The guest's own memory (the page at storeGfn holds the ring). */
  memory: GuestMemory;
  /** The guest's event-channel handle; storePort is one of its ports. */
  evtchns: EventChannels;
  storeGfn: number;
  storePort: number;
  /** When true, closing the stream also closes `evtchns` and `memory` (the caller opened them for it). */
  ownsHandles?: boolean;
}

/** The guest's end of its xenstore ring: writes requests into req[], reads replies from rsp[]. */
export function openGuestRingStream(opts: GuestRingOptions): RingByteStream {
  const { memory, evtchns, storeGfn, storePort } = opts;
  if (!Number.isInteger(storeGfn) || storeGfn < 0 || storeGfn >= memory.pages) {
    throw new SplitblkError('SPLITBLK_ERR_XS_RING', `store page ${storeGfn} is outside domain ${memory.domid}'s ${memory.pages} pages`, {
      domid: memory.domid,
      gfn: storeGfn,
    });
  }
  const page = new XsRingPage(memory.buffer, storeGfn * XS_RING_PAGE_SIZE);
  const owns = opts.ownsHandles === true;
  const stream = new GuestRingStream(page, evtchnDoorbell(evtchns, storePort, owns ? 'handle' : 'none'), opts);
  if (owns) stream.onClose(() => memory.close());
  return stream;
}
