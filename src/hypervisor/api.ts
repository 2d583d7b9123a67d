/**
 * The hypervisor interfaces splitblk's components program against.
 *
 * They mirror the Xen user libraries so that a real-Xen implementation (koffi over
 * libxengnttab / libxenevtchn / libxenforeignmemory) can later sit behind the same types:
 *   GrantMapper      ~ xengnttab_map_domain_grant_refs / xengnttab_unmap   (backend side)
 *   GrantTable       ~ the guest's own grant table (gnttab_grant_foreign_access & co.)
 *   EventChannels    ~ xenevtchn_open / bind_interdomain / bind_unbound_port / notify / unmask
 *   ForeignMemory    ~ xenforeignmemory_map, for privileged callers (xenstored)
 *   Hypervisor       ~ the domain-management slice of libxenctrl that the toolstack uses
 *
 * The emulation (src/hypervisor/*) implements them with shared-memory files and FIFOs under
 * the run directory; docs/abi.md documents those files for programs in other languages.
 */

export type DomId = number;
export type GrantRef = number;
export type EvtchnPort = number;

export const DOMID_SELF = 0x7ff0;

/** A contiguous view of mapped foreign pages (granted or, for privileged callers, by gfn). */
export interface ForeignMapping {
  readonly buffer: ArrayBuffer;
  readonly pages: number;
  readonly writable: boolean;
  /** Unmap; for grants this also drops GTF_reading/GTF_writing when the last mapping goes. */
  unmap(): void;
}

/** Backend side: map pages a guest granted to us (our domid). */
export interface GrantMapper {
  /**
   * Map `count` grant references of `domid` into one contiguous mapping. Fails as a whole
   * (SplitblkError code SPLITBLK_ERR_GRANT with the failing ref) when any entry is not
   * GTF_permit_access, is granted to another domain, is read-only but `writable` was asked,
   * names a frame outside the guest's memory, or the domain does not exist.
   */
  mapGrantRefs(domid: DomId, refs: ArrayLike<GrantRef>, count: number, writable: boolean): ForeignMapping;
  close(): void;
}

/** Guest side: the guest's own grant table (it writes grant_entry_v1 entries itself). */
export interface GrantTable {
  readonly domid: DomId;
  /** Number of grant_entry_v1 slots. */
  readonly entries: number;
  /** Grant `domid` access to our frame `gfn`. Returns the ref, or throws when the table is full. */
  grantAccess(domid: DomId, gfn: number, readonly: boolean): GrantRef;
  /**
   * End access (gnttab_end_foreign_access_ref): atomically clears the entry unless a mapping is
   * in use (GTF_reading/GTF_writing set), in which case it returns false and nothing changes.
   */
  endAccess(ref: GrantRef): boolean;
  close(): void;
}

/** One process's handle on event channels, acting for domain `domid`. */
export interface EventChannels {
  readonly domid: DomId;
  /** EVTCHNOP_alloc_unbound: a port that `remoteDomid` may bind to. */
  allocUnbound(remoteDomid: DomId): EvtchnPort;
  /** EVTCHNOP_bind_interdomain: bind to `remotePort` of `remoteDomid` (unbound, offered to us). */
  bindInterdomain(remoteDomid: DomId, remotePort: EvtchnPort): EvtchnPort;
  /** EVTCHNOP_send. Cheap when the peer is already pending or polling. */
  notify(port: EvtchnPort): void;
  /** Run `handler` on the main loop when `port` becomes pending (the pending bit is cleared first). */
  onEvent(port: EvtchnPort, handler: () => void): void;
  /** Clear the mask; if an event arrived while masked, the handler runs. */
  unmask(port: EvtchnPort): void;
  mask(port: EvtchnPort): void;
  /** Polling mode: the peer skips the doorbell syscall and we test the pending bit ourselves. */
  setPolling(port: EvtchnPort, polling: boolean): void;
  /** Test-and-clear the pending bit (for polling mode). */
  testAndClearPending(port: EvtchnPort): boolean;
  /** EVTCHNOP_close. The peer's port becomes unbound; notifying it then does nothing. */
  close(port: EvtchnPort): void;
  /** Close every port this handle opened, and the handle. */
  closeAll(): void;
}

/** Privileged (dom0) foreign mapping by gfn, as xenstored maps a guest's xenstore page. */
export interface ForeignMemory {
  map(domid: DomId, gfns: ArrayLike<number>, count: number, writable: boolean): ForeignMapping;
}

export interface DomainInfo {
  domid: DomId;
  name: string;
  memoryPages: number;
  /** Set by destroy; shutdown/dying as Xen's domain info flags. */
  dying: boolean;
  shutdown: boolean;
}

/** Guest self-access: a guest process's view of its own memory. */
export interface GuestMemory {
  readonly domid: DomId;
  readonly pages: number;
  /** The whole of the guest's memory, mapped writable (the guest owns it). */
  readonly buffer: ArrayBuffer;
  /** A simple page allocator over the guest's memory (never hands out page 0..reservedPages). */
  allocPages(count: number): number;
  freePages(gfn: number, count: number): void;
  close(): void;
}

/**
 * What the toolstack tells a new guest at boot, like Xen's start_info: where its xenstore page
 * is and which event channel reaches xenstored (an unbound port offered to dom0). Stored as
 * `domains/<domid>/start-info` (docs/abi.md).
 */
export interface StartInfo {
  domid: DomId;
  name: string;
  memoryPages: number;
  storeGfn: number;
  storePort: EvtchnPort;
}

/** Domain management, used by the toolstack and by the privileged daemons. */
export interface Hypervisor {
  readonly rundir: string;
  createDomain(opts: { domid?: DomId; name?: string; memoryMiB: number }): DomainInfo;
  destroyDomain(domid: DomId): void;
  listDomains(): DomainInfo[];
  domainInfo(domid: DomId): DomainInfo | undefined;
  /** The start info createDomain wrote for `domid`, or undefined when there is no such domain. */
  startInfo(domid: DomId): StartInfo | undefined;
  /** Open the event-channel handle acting for `domid` (dom0 for backends and xenstored). */
  openEventChannels(domid: DomId): EventChannels;
  openGrantMapper(selfDomid: DomId): GrantMapper;
  openGrantTable(domid: DomId): GrantTable;
  openGuestMemory(domid: DomId): GuestMemory;
  openForeignMemory(): ForeignMemory;
}

/**
 * Stable error codes of the hypervisor emulation (SplitblkError.code). Fields: `domid` always,
 * plus `ref` (grants), `port` (event channels) or `gfn` (memory) where one is at fault.
 */
export const HypervisorError = {
  /** A grant entry refused the mapping (not permitted, other domain, read-only, bad frame). */
  Grant: 'SPLITBLK_ERR_GRANT',
  /** A bad port number, a port in the wrong state, or a bind the remote port does not allow. */
  Evtchn: 'SPLITBLK_ERR_EVTCHN',
  /** The domain does not exist (or is being destroyed). */
  NoDomain: 'SPLITBLK_ERR_NO_DOMAIN',
  /** createDomain with a domid that is already in use. */
  DomainExists: 'SPLITBLK_ERR_DOMAIN_EXISTS',
  /** No free grant entry, event-channel port, guest page or domid. */
  Exhausted: 'SPLITBLK_ERR_EXHAUSTED',
  /** A privileged foreign mapping named a frame outside the guest's memory. */
  ForeignMap: 'SPLITBLK_ERR_FOREIGN_MAP',
  /** A malformed request: bad domid, size, gfn range, or destroying dom0. */
  Invalid: 'SPLITBLK_ERR_INVALID',
} as const;

/**
 * The start-info record the toolstack writes for a guest (domains/<domid>/start-info, JSON),
 * like Xen's start_info page: what a guest needs to find its xenstore connection.
 */
export interface StartInfo {
  domid: DomId;
  name: string;
  memoryPages: number;
  /** Guest frames below this are never handed out by GuestMemory.allocPages. */
  reservedPages: number;
  /** Frame of the xenstore ring page (struct xenstore_domain_interface). */
  storeGfn: number;
  /** Guest port, unbound and offered to dom0, that xenstored binds for the store ring. */
  storePort: EvtchnPort;
  /** Entries of the grant table (grant_entry_v1 slots). */
  grantEntries: number;
  /** Ports of the event-channel table. */
  evtchnPorts: number;
}

/** Additions to Hypervisor (kept separate so the original declaration stays as it was). */
export interface HypervisorStartInfo {
  /** The guest's start-info, or undefined when the domain does not exist. */
  startInfo(domid: DomId): StartInfo | undefined;
  /** Replace the start-info (atomically: readers see the old or the new record). */
  writeStartInfo(info: StartInfo): void;
  /** Release this process's cached mappings of domain tables (open handles keep theirs). */
  close(): void;
}

// Declaration merging: every Hypervisor also has the additions above.
export interface Hypervisor extends HypervisorStartInfo {}
