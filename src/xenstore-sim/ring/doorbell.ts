import type { EventChannels, EvtchnPort } from '../../hypervisor/api.js';

/**
 * How one end of a xenstore ring wakes the other and learns that it was woken. Over the
 * hypervisor emulation this is one event-channel port; tests and foreign daemons may supply
 * their own (a FIFO, a timer).
 */
export interface RingDoorbell {
  /** Tell the peer that an index moved. */
  notify(): void;
  /** Run `handler` whenever the peer notifies us. Called once, before any notify(). */
  listen(handler: () => void): void;
  /** Stop listening and release the port. Idempotent. */
  close(): void;
}

/**
 * What closing the doorbell releases: the whole event-channel handle (the stream opened it for
 * itself), just the port (the daemon's local port bound at INTRODUCE), or nothing (the guest's
 * store port on a handle the caller lent us: the port outlives one connection, as in Xen).
 */
export type DoorbellRelease = 'handle' | 'port' | 'none';

/** A doorbell on event-channel `port` of `evtchns`. */
export function evtchnDoorbell(evtchns: EventChannels, port: EvtchnPort, release: DoorbellRelease): RingDoorbell {
  let closed = false;
  return {
    notify() {
      if (!closed) evtchns.notify(port);
    },
    listen(handler) {
      evtchns.onEvent(port, () => {
        if (!closed) handler();
      });
      // A port may start masked; unmasking also delivers an event that arrived meanwhile.
      evtchns.unmask(port);
    },
    close() {
      if (closed) return;
      closed = true;
      if (release === 'handle') evtchns.closeAll();
      else if (release === 'port') evtchns.close(port);
      // 'none': the handler above ignores events from now on; the port stays bound.
    },
  };
}
