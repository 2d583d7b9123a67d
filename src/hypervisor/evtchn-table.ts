import type { DomId, EvtchnPort } from './api.js';
import { TABLE_STATE_ALIVE, TABLE_STATE_DYING } from './grant-layout.js';

/**
 * The event-channel port table of one domain (`domains/<domid>/evtchn`), declared once, and the
 * lock-free operations on it. Every process acting for the domain (dom0's xenstored, backends
 * and toolstack are separate processes) maps the same file, so each change of a port's binding
 * is one compare-and-swap of its binding word.
 *
 * EVTCHN_PORTS entries of EVTCHN_ENTRY_SIZE bytes, little-endian; entry p at p * 16:
 *   offset size  name
 *   0      4     binding   state (bits 0..3) | port (bits 4..15) | domid (bits 16..31)
 *   4      4     flags     EVTCHN_PENDING | EVTCHN_MASKED | EVTCHN_POLLING
 *   8      8     reserved
 *
 * binding by state:
 *   EVTCHN_FREE        0: the whole word is 0.
 *   EVTCHN_UNBOUND     1: domid = the remote domain allowed to bind; port = 0.
 *   EVTCHN_INTERDOMAIN 2: domid/port = the remote end.
 *   EVTCHN_RESERVED    3: claimed by a process that is setting the port up; not usable yet.
 *
 * Port 0 is never allocated (as in Xen); its entry is the table header:
 *   0  magic (EVTCHN_MAGIC, non-zero so that no allocator ever claims it)
 *   4  state (TABLE_STATE_ALIVE / TABLE_STATE_DYING, set by destroyDomain)
 *   8  ports
 *   12 domid of the table's domain
 */

export const EVTCHN_PORTS = 4096; // EVTCHN_2L_NR_CHANNELS on 64-bit guests; the port field's width
export const EVTCHN_ENTRY_SIZE = 16;
export const EVTCHN_ENTRY_WORDS = EVTCHN_ENTRY_SIZE / 4;
export const EVTCHN_BINDING_WORD = 0;
export const EVTCHN_FLAGS_WORD = 1;
export const EVTCHN_TABLE_BYTES = EVTCHN_PORTS * EVTCHN_ENTRY_SIZE;

export const EVTCHN_MAGIC = 0x56454253; // 'SBEV' little-endian
export const EVTCHN_HEADER_MAGIC_WORD = 0;
export const EVTCHN_HEADER_STATE_WORD = 1;
export const EVTCHN_HEADER_PORTS_WORD = 2;
export const EVTCHN_HEADER_DOMID_WORD = 3;

export const EVTCHN_FREE = 0;
export const EVTCHN_UNBOUND = 1;
export const EVTCHN_INTERDOMAIN = 2;
export const EVTCHN_RESERVED = 3;
export const EVTCHN_STATE_MASK = 0xf;
export const EVTCHN_PORT_SHIFT = 4;
export const EVTCHN_PORT_MASK = 0xfff;
export const EVTCHN_DOMID_SHIFT = 16;

export const EVTCHN_PENDING = 1 << 0;
export const EVTCHN_MASKED = 1 << 1;
export const EVTCHN_POLLING = 1 << 2;

export type EvtchnState = 'free' | 'unbound' | 'interdomain' | 'reserved';

export const encodeBinding = (state: number, port: EvtchnPort, domid: DomId): number =>
  (state | (port << EVTCHN_PORT_SHIFT) | (domid << EVTCHN_DOMID_SHIFT)) | 0;
export const bindingState = (word: number): number => word & EVTCHN_STATE_MASK;
export const bindingPort = (word: number): EvtchnPort => (word >>> EVTCHN_PORT_SHIFT) & EVTCHN_PORT_MASK;
export const bindingDomid = (word: number): DomId => word >>> EVTCHN_DOMID_SHIFT;

export const bindingIndex = (port: EvtchnPort): number => port * EVTCHN_ENTRY_WORDS + EVTCHN_BINDING_WORD;
export const flagsIndex = (port: EvtchnPort): number => port * EVTCHN_ENTRY_WORDS + EVTCHN_FLAGS_WORD;

/** A valid port number for a table: 1..EVTCHN_PORTS-1 (port 0 is the header). */
export const isPort = (port: number): boolean => Number.isInteger(port) && port > 0 && port < EVTCHN_PORTS;

export function stateName(word: number): EvtchnState | 'unknown' {
  switch (bindingState(word)) {
    case EVTCHN_FREE:
      return 'free';
    case EVTCHN_UNBOUND:
      return 'unbound';
    case EVTCHN_INTERDOMAIN:
      return 'interdomain';
    case EVTCHN_RESERVED:
      return 'reserved';
    default:
      return 'unknown';
  }
}

/** Fill the header of a fresh (all-zero) table. */
export function initTable(words: Int32Array, domid: DomId): void {
  Atomics.store(words, EVTCHN_HEADER_PORTS_WORD, EVTCHN_PORTS);
  Atomics.store(words, EVTCHN_HEADER_DOMID_WORD, domid);
  Atomics.store(words, EVTCHN_HEADER_STATE_WORD, TABLE_STATE_ALIVE);
  // Written last: a table with the magic is complete.
  Atomics.store(words, EVTCHN_HEADER_MAGIC_WORD, EVTCHN_MAGIC);
}

export const tableValid = (words: Int32Array): boolean =>
  words.length >= EVTCHN_PORTS * EVTCHN_ENTRY_WORDS && Atomics.load(words, EVTCHN_HEADER_MAGIC_WORD) === EVTCHN_MAGIC;
export const tableDying = (words: Int32Array): boolean =>
  Atomics.load(words, EVTCHN_HEADER_STATE_WORD) === TABLE_STATE_DYING;
export const markTableDying = (words: Int32Array): void => {
  Atomics.store(words, EVTCHN_HEADER_STATE_WORD, TABLE_STATE_DYING);
};

/**
 * Claim a free port: CAS its binding from FREE to RESERVED (carrying `domid`), so that two
 * processes scanning at once never get the same port. The flags are reset while nobody can reach
 * the port yet (a stale notifier of the port's previous life may have left PENDING). Returns -1
 * when the table is full.
 */
export function reservePort(words: Int32Array, domid: DomId): EvtchnPort {
  const reserved = encodeBinding(EVTCHN_RESERVED, 0, domid);
  for (let port = 1; port < EVTCHN_PORTS; port++) {
    const index = bindingIndex(port);
    if (Atomics.load(words, index) !== EVTCHN_FREE) continue;
    // Seq-cst CAS: orders the claim before the flag reset below, and after any FREE store of a
    // closer (which reset nothing we rely on).
    if (Atomics.compareExchange(words, index, EVTCHN_FREE, reserved) !== EVTCHN_FREE) continue;
    Atomics.store(words, flagsIndex(port), 0);
    return port;
  }
  return -1;
}

/** Publish a reserved port as unbound, offered to `remoteDomid`. */
export function publishUnbound(words: Int32Array, port: EvtchnPort, remoteDomid: DomId): void {
  // Seq-cst store: the flag reset of reservePort is visible before a binder can see UNBOUND.
  Atomics.store(words, bindingIndex(port), encodeBinding(EVTCHN_UNBOUND, 0, remoteDomid));
}

/**
 * Bind the remote end: CAS the remote port from "unbound, offered to `localDomid`" to
 * "interdomain with localDomid:localPort". The single CAS both checks the offer and takes it,
 * so two binders racing for one unbound port cannot both win.
 */
export function bindRemote(
  remote: Int32Array,
  remotePort: EvtchnPort,
  localDomid: DomId,
  localPort: EvtchnPort,
): boolean {
  const offered = encodeBinding(EVTCHN_UNBOUND, 0, localDomid);
  const bound = encodeBinding(EVTCHN_INTERDOMAIN, localPort, localDomid);
  return Atomics.compareExchange(remote, bindingIndex(remotePort), offered, bound) === offered;
}

/**
 * Tell the remote end that `localDomid:localPort` is closing: its binding becomes unbound
 * (offered back to us, as Xen does), but only if it still names us; a port that was meanwhile
 * closed and reused is left alone.
 */
export function unbindRemote(
  remote: Int32Array,
  remotePort: EvtchnPort,
  localDomid: DomId,
  localPort: EvtchnPort,
): void {
  const bound = encodeBinding(EVTCHN_INTERDOMAIN, localPort, localDomid);
  const unbound = encodeBinding(EVTCHN_UNBOUND, 0, localDomid);
  Atomics.compareExchange(remote, bindingIndex(remotePort), bound, unbound);
}

/** Free a port whose binding is still `expected`; false when it changed meanwhile. */
export function freePort(words: Int32Array, port: EvtchnPort, expected: number): boolean {
  return Atomics.compareExchange(words, bindingIndex(port), expected, EVTCHN_FREE) === expected;
}
