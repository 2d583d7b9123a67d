import type { Bell, Doorbell, NativeApi } from '../native/api.js';
import { DOMID_SELF, type DomId, type EventChannels, type EvtchnPort } from './api.js';
import type { DomainFiles, OpenDomain } from './domain-files.js';
import { domidMax } from './domain-registry.js';
import { evtchnError, exhaustedError } from './errors.js';
import { TABLE_STATE_DYING } from './grant-layout.js';
import {
  EVTCHN_ENTRY_WORDS,
  EVTCHN_FREE,
  EVTCHN_HEADER_STATE_WORD,
  EVTCHN_STATE_MASK,
  EVTCHN_INTERDOMAIN,
  EVTCHN_MASKED,
  EVTCHN_PENDING,
  EVTCHN_POLLING,
  EVTCHN_PORTS,
  bindRemote,
  bindingDomid,
  bindingIndex,
  bindingPort,
  bindingState,
  encodeBinding,
  flagsIndex,
  freePort,
  isPort,
  publishUnbound,
  reservePort,
  stateName,
  unbindRemote,
} from './evtchn-table.js';

/** Handler runs per doorbell wake-up at most, while the port keeps becoming pending again. */
export const dispatchRoundsMax = 16;
/** Attempts to close a port whose binding keeps changing under us (a peer closing at once). */
const closeAttemptsMax = 8;

/** The remote end of a bound local port, resolved once per binding and cached. */
interface Peer {
  /** The local binding word this was resolved from; a different word means re-resolve. */
  readonly binding: number;
  readonly domain: OpenDomain;
  /** The peer's table (domain.evtchn), held directly for the hot path. */
  readonly words: Int32Array;
  readonly flags: number;
  readonly bellPath: string;
  bell: Bell | undefined;
}

interface Listener {
  readonly doorbell: Doorbell;
  handler: () => void;
}

/**
 * Event channels of one domain as one process uses them: ports in the shared table
 * (evtchn-table.ts), a doorbell FIFO per port this process listens on.
 *
 * notify sets the remote port's pending bit with one atomic OR and rings the remote's doorbell
 * only when the bit was clear and the remote port is neither masked nor polling: when the peer
 * is already pending, notify costs one load and one atomic, no syscall and no allocation.
 */
export class EventChannelsImpl implements EventChannels {
  private readonly words: Int32Array;
  private readonly self: OpenDomain;
  /** 1 for ports this handle allocated or bound (closeAll closes them). */
  private readonly owned = new Uint8Array(EVTCHN_PORTS);
  private readonly peers: (Peer | undefined)[] = new Array<Peer | undefined>(EVTCHN_PORTS).fill(undefined);
  private readonly listeners: (Listener | undefined)[] = new Array<Listener | undefined>(EVTCHN_PORTS).fill(undefined);
  private closed = false;

  constructor(
    readonly domid: DomId,
    private readonly files: DomainFiles,
    private readonly native: NativeApi,
  ) {
    this.self = files.get(domid);
    this.self.retain();
    this.words = this.self.evtchn;
  }

  allocUnbound(remoteDomid: DomId): EvtchnPort {
    this.checkOpen();
    const remote = this.resolveDomid(remoteDomid);
    this.files.get(remote); // EVTCHNOP_alloc_unbound wants the remote domain to exist.
    const port = reservePort(this.words, remote);
    if (port < 0) throw exhaustedError('no free event-channel port', { domid: this.domid });
    publishUnbound(this.words, port, remote);
    this.owned[port] = 1;
    return port;
  }

  bindInterdomain(remoteDomid: DomId, remotePort: EvtchnPort): EvtchnPort {
    this.checkOpen();
    const remote = this.resolveDomid(remoteDomid);
    if (!isPort(remotePort)) throw evtchnError(`bad remote port ${remotePort}`, { domid: remote, port: remotePort });
    const table = remote === this.domid ? this.words : this.files.get(remote).evtchn;
    const port = reservePort(this.words, remote);
    if (port < 0) throw exhaustedError('no free event-channel port', { domid: this.domid });
    if (!bindRemote(table, remotePort, this.domid, port)) {
      const found = Atomics.load(table, bindingIndex(remotePort));
      Atomics.store(this.words, bindingIndex(port), EVTCHN_FREE);
      throw evtchnError(
        `port ${remotePort} of domain ${remote} is not unbound for domain ${this.domid} (${stateName(found)}` +
          ` for domain ${bindingDomid(found)})`,
        { domid: remote, port: remotePort },
      );
    }
    // Seq-cst store publishes our end; the remote end already names us, so it may notify us
    // before this (the pending bit waits in our table until someone listens).
    Atomics.store(this.words, bindingIndex(port), encodeBinding(EVTCHN_INTERDOMAIN, remotePort, remote));
    this.owned[port] = 1;
    return port;
  }

  notify(port: EvtchnPort): void {
    // (port | 0) === port: an integer in int32 range, cheaper than Number.isInteger here.
    if ((port | 0) !== port || port <= 0 || port >= EVTCHN_PORTS || this.closed) {
      throw evtchnError(this.closed ? 'event channels closed' : `bad port ${port}`, { domid: this.domid, port });
    }
    const binding = Atomics.load(this.words, port * EVTCHN_ENTRY_WORDS);
    if ((binding & EVTCHN_STATE_MASK) !== EVTCHN_INTERDOMAIN) return; // Unbound or closed by the peer.
    let peer = this.peers[port];
    // The peer's header says DYING when its domain was destroyed: its domid may since belong to
    // a new domain whose table we have not mapped yet.
    if (
      peer === undefined ||
      peer.binding !== binding ||
      peer.domain.closed ||
      Atomics.load(peer.words, EVTCHN_HEADER_STATE_WORD) === TABLE_STATE_DYING
    ) {
      peer = this.resolvePeer(port, binding);
      if (peer === undefined) return;
    }
    // Seq-cst RMW: orders everything the caller wrote (ring requests, indexes) before the peer
    // can see the event, and tells us in one step whether a wake-up is due.
    const old = Atomics.or(peer.words, peer.flags, EVTCHN_PENDING);
    if ((old & (EVTCHN_PENDING | EVTCHN_MASKED | EVTCHN_POLLING)) !== 0) return;
    this.ring(peer);
  }

  onEvent(port: EvtchnPort, handler: () => void): void {
    this.checkInUse(port);
    const existing = this.listeners[port];
    if (existing !== undefined) {
      existing.handler = handler;
      return;
    }
    const doorbell = this.native.doorbell.listen(this.files.dirs.evtchnDoorbell(this.domid, port), () => this.dispatch(port));
    this.listeners[port] = { doorbell, handler };
    // An event may have arrived before the FIFO existed (its notifier's ring found no
    // receiver); it left the pending bit set, so look now.
    this.dispatchSoon(port);
  }

  unmask(port: EvtchnPort): void {
    this.checkInUse(port);
    const old = Atomics.and(this.words, flagsIndex(port), ~EVTCHN_MASKED);
    // A notifier that found us masked did not ring; deliver what it left pending.
    if ((old & EVTCHN_PENDING) !== 0) this.dispatchSoon(port);
  }

  mask(port: EvtchnPort): void {
    this.checkInUse(port);
    Atomics.or(this.words, flagsIndex(port), EVTCHN_MASKED);
  }

  setPolling(port: EvtchnPort, polling: boolean): void {
    this.checkInUse(port);
    if (polling) {
      Atomics.or(this.words, flagsIndex(port), EVTCHN_POLLING);
      return;
    }
    const old = Atomics.and(this.words, flagsIndex(port), ~EVTCHN_POLLING);
    if ((old & EVTCHN_PENDING) !== 0) this.dispatchSoon(port);
  }

  testAndClearPending(port: EvtchnPort): boolean {
    this.checkOpen();
    if (!isPort(port)) throw evtchnError(`bad port ${port}`, { domid: this.domid, port });
    // Cheap test first: polling loops mostly find nothing, and a load does not dirty the line.
    if ((Atomics.load(this.words, flagsIndex(port)) & EVTCHN_PENDING) === 0) return false;
    return (Atomics.and(this.words, flagsIndex(port), ~EVTCHN_PENDING) & EVTCHN_PENDING) !== 0;
  }

  close(port: EvtchnPort): void {
    this.checkInUse(port);
    // The doorbell goes first: once the port is free another process may reuse it and create
    // a FIFO of the same name, which our unlink must not remove.
    this.forgetPort(port);
    for (let attempt = 0; attempt < closeAttemptsMax; attempt++) {
      const binding = Atomics.load(this.words, bindingIndex(port));
      if (bindingState(binding) === EVTCHN_FREE) return;
      if (bindingState(binding) === EVTCHN_INTERDOMAIN) this.unbindPeer(port, binding);
      if (freePort(this.words, port, binding)) return;
    }
    throw evtchnError(`port ${port} kept changing while closing`, { domid: this.domid, port });
  }

  closeAll(): void {
    if (this.closed) return;
    for (let port = 1; port < EVTCHN_PORTS; port++) {
      if (this.owned[port] !== 1) {
        this.forgetPort(port);
        continue;
      }
      try {
        this.close(port);
      } catch {
        this.forgetPort(port); // Already freed (the domain is being destroyed).
      }
    }
    this.closed = true;
    this.self.release();
  }

  private forgetPort(port: EvtchnPort): void {
    this.owned[port] = 0;
    const listener = this.listeners[port];
    if (listener !== undefined) {
      // A destroyed domain's files are gone, and its domid (with FIFOs of the same names) may
      // already belong to a new domain: remove nothing then.
      listener.doorbell.close({ unlink: !this.self.dying() });
      this.listeners[port] = undefined;
    }
    const peer = this.peers[port];
    if (peer !== undefined) {
      peer.bell?.close();
      this.peers[port] = undefined;
    }
  }

  private unbindPeer(port: EvtchnPort, binding: number): void {
    // destroyDomain already unbound the peers of a dying domain; a peer port that names our
    // domid now may be bound to a new domain that reuses it.
    if (this.self.dying()) return;
    const remote = bindingDomid(binding);
    try {
      const table = remote === this.domid ? this.words : this.files.get(remote).evtchn;
      unbindRemote(table, bindingPort(binding), this.domid, port);
    } catch {
      // The peer domain is gone: nothing to tell.
    }
  }

  private resolvePeer(port: EvtchnPort, binding: number): Peer | undefined {
    const old = this.peers[port];
    old?.bell?.close();
    this.peers[port] = undefined;
    const remote = bindingDomid(binding);
    const remotePort = bindingPort(binding);
    if (remotePort === 0) return undefined; // Port 0 is the peer's table header: a forged binding.
    let domain: OpenDomain;
    try {
      domain = remote === this.domid ? this.self : this.files.get(remote);
    } catch {
      return undefined; // The peer is dying or gone; its end is about to be unbound.
    }
    const peer: Peer = {
      binding,
      domain,
      words: domain.evtchn,
      flags: flagsIndex(remotePort),
      bellPath: this.files.dirs.evtchnDoorbell(remote, remotePort),
      bell: undefined,
    };
    this.peers[port] = peer;
    return peer;
  }

  /** One FIFO write. A receiver that is gone or not listening yet will find the pending bit. */
  private ring(peer: Peer): void {
    if (peer.bell !== undefined && peer.bell.ring()) return;
    peer.bell?.close();
    peer.bell = undefined;
    // No bell yet, or its receiver went away (perhaps replaced by a new one on a new FIFO).
    let bell: Bell;
    try {
      bell = this.native.doorbell.connect(peer.bellPath);
    } catch {
      return;
    }
    if (bell.ring()) peer.bell = bell;
    else bell.close();
  }

  private dispatch(port: EvtchnPort): void {
    const listener = this.listeners[port];
    if (listener === undefined) return;
    const index = flagsIndex(port);
    for (let round = 0; round < dispatchRoundsMax; round++) {
      const flags = Atomics.load(this.words, index);
      if ((flags & EVTCHN_PENDING) === 0 || (flags & EVTCHN_MASKED) !== 0) return;
      // CAS so that a mask set after our load keeps the event pending for unmask. Seq-cst: the
      // clear is ordered before the handler's reads, so a notify after them rings again.
      if (Atomics.compareExchange(this.words, index, flags, flags & ~EVTCHN_PENDING) !== flags) continue;
      listener.handler();
      if (this.listeners[port] !== listener) return; // The handler closed the port.
    }
    // Still pending after the bound: let other work run, then continue.
    this.dispatchSoon(port);
  }

  private dispatchSoon(port: EvtchnPort): void {
    if ((Atomics.load(this.words, flagsIndex(port)) & EVTCHN_PENDING) === 0) return;
    setImmediate(() => this.dispatch(port));
  }

  private checkOpen(): void {
    if (this.closed) throw evtchnError('event channels closed', { domid: this.domid, port: -1 });
  }

  private checkInUse(port: EvtchnPort): void {
    this.checkOpen();
    if (!isPort(port)) throw evtchnError(`bad port ${port}`, { domid: this.domid, port });
    if (bindingState(Atomics.load(this.words, bindingIndex(port))) === EVTCHN_FREE) {
      throw evtchnError(`port ${port} is not allocated`, { domid: this.domid, port });
    }
  }

  private resolveDomid(domid: DomId): DomId {
    if (domid === DOMID_SELF) return this.domid;
    if (!Number.isInteger(domid) || domid < 0 || domid > domidMax) {
      throw evtchnError(`bad domain ${domid}`, { domid, port: -1 });
    }
    return domid;
  }
}
