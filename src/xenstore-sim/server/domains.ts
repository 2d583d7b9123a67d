import type { XsStore } from '../store/index.js';
import { fail } from '../store/errors.js';
import { XS_INTRODUCE_DOMAIN_PATH, XS_RELEASE_DOMAIN_PATH } from '../wire/messages.js';
import type { Connection } from './connection.js';
import type { ByteStream, GuestConnector } from './stream.js';
import type { WriteCredits } from './write-credits.js';
import type { WrlCredit } from './write-rate-limit.js';

/** An introduced guest domain (C's struct domain). */
export interface Domain {
  domid: number;
  port: number;
  gfn: number;
  connection: Connection | undefined;
  target: number | undefined;
  /** Shut down (or crashed) and reported with @releaseDomain; XS_RESUME clears it (C's domain->shutdown). */
  shutdown: boolean;
  wrl: WrlCredit;
  /**
   * Domains whose SET_TARGET named this one, once per call, most recent last. C takes a talloc
   * reference to the target's connection each time, so a RELEASE of this domain while any is
   * left only drops the most recent one (see release()).
   */
  targetedBy: Domain[];
  /** The domains this one named in SET_TARGET calls (the references it holds). */
  targets: Domain[];
  /**
   * Dead, but kept for `targetedBy` (C unlinks the connection from its own parent, and a
   * SET_TARGET reference keeps it): released when the last reference goes.
   */
  gone: boolean;
}

/** What the domain table needs from the server it belongs to. */
export interface DomainHost {
  readonly store: XsStore;
  readonly credits: WriteCredits;
  /** How INTRODUCE reaches a guest's ring; without it INTRODUCE records the domain only. */
  readonly guests: GuestConnector | undefined;
  /** Serve a guest's ring as that unprivileged domain. */
  connectGuest(stream: ByteStream, domid: number): Connection;
  /** C's domain_conn_reset() for the connection of a guest introduced again. */
  resetGuest(conn: Connection): void;
  /** Close a released guest's connection, its watches dropped first. */
  closeGuest(conn: Connection): void;
  /** Every connection, to forget a released domain as a SET_TARGET target. */
  connections(): Iterable<Connection>;
  /** Fire "@introduceDomain" or "@releaseDomain". */
  fireSpecial(name: string): void;
  trace(line: string): void;
}

/**
 * The introduced guest domains and C 4.17's rules for them: INTRODUCE, RELEASE, RESUME,
 * SET_TARGET (with C's talloc references), a guest's shutdown and death.
 */
export class DomainTable {
  private readonly domains = new Map<number, Domain>();

  constructor(private readonly host: DomainHost) {}

  get(domid: number): Domain | undefined {
    return this.domains.get(domid);
  }

  domids(): number[] {
    return [...this.domains.keys()];
  }

  introduce(domid: number, gfn: number, port: number): void {
    if (domid === 0) return;
    const existing = this.domains.get(domid);
    if (existing !== undefined) {
      // Re-introduction (e.g. after resume) rebinds the port and resets the connection.
      existing.port = port;
      if (existing.connection !== undefined && !existing.connection.closed) this.host.resetGuest(existing.connection);
      return;
    }
    let connection: Connection | undefined;
    if (this.host.guests !== undefined) {
      let stream: ByteStream;
      try {
        stream = this.host.guests.connect(domid, gfn, port);
      } catch (error) {
        this.host.trace(`introduce dom${domid}: ${(error as Error).message}`);
        fail('EINVAL');
      }
      // C resets the ring at every INTRODUCE, the first one included.
      stream.resetRing?.();
      connection = this.host.connectGuest(stream, domid);
    }
    // C's new_domain(): the domain's write credit, for its ring's connection.
    const wrl = this.host.credits.addDomain(domid);
    if (connection !== undefined) connection.wrl = wrl;
    this.domains.set(domid, { domid, port, gfn, connection, target: undefined, shutdown: false, wrl, targetedBy: [], targets: [], gone: false });
    this.host.fireSpecial(XS_INTRODUCE_DOMAIN_PATH);
  }

  release(domid: number): void {
    const domain = this.domains.get(domid);
    if (domain === undefined) fail('ENOENT');
    // A dead domain kept for a reference has no connection (C's find_connected_domain()).
    if (domain.gone) fail('EINVAL');
    // C's do_release() is talloc_free() of the domain's connection: while a SET_TARGET
    // reference to it is left, that frees only the most recent reference (the domain stays
    // introduced and served, its nodes stay, and no @releaseDomain fires).
    const holder = domain.targetedBy.pop();
    if (holder !== undefined) {
      removeOne(holder.targets, domain);
      return;
    }
    this.releaseDomain(domid);
  }

  /**
   * The connector saw the domain die. C unlinks its connection from its own parent; a
   * SET_TARGET reference keeps it alive (introduced, its nodes kept, no @releaseDomain) until
   * the device model that holds it goes.
   */
  gone(domid: number): void {
    const domain = this.domains.get(domid);
    if (domain === undefined || domain.gone) return;
    if (domain.targetedBy.length > 0) domain.gone = true;
    else this.releaseDomain(domid);
  }

  /**
   * A guest shut down or crashed: C's domain_cleanup() fires @releaseDomain once, and keeps
   * the domain introduced and its connection open until the domain dies or dom0 releases it.
   */
  shutdown(domid: number): void {
    const domain = this.domains.get(domid);
    if (domain === undefined || domain.shutdown) return;
    domain.shutdown = true;
    this.host.fireSpecial(XS_RELEASE_DOMAIN_PATH);
  }

  resume(domid: number): void {
    const domain = this.domains.get(domid);
    if (domain === undefined) fail('ENOENT');
    if (domain.gone) fail('EINVAL');
    // A later shutdown is reported again (C's do_resume() clears domain->shutdown).
    domain.shutdown = false;
  }

  setTarget(domid: number, target: number): void {
    const domain = this.domains.get(domid);
    if (domain === undefined) fail('ENOENT');
    if (domain.gone) fail('EINVAL');
    const targetDomain = target === 0 ? undefined : this.domains.get(target);
    if (target !== 0 && targetDomain === undefined) fail('ENOENT');
    if (targetDomain?.gone === true) fail('EINVAL');
    if (targetDomain !== undefined) {
      targetDomain.targetedBy.push(domain);
      domain.targets.push(targetDomain);
    }
    domain.target = target;
    if (domain.connection !== undefined) domain.connection.target = target;
  }

  /** C's domain_alloc_permrefs() lookup: a domain introduced here, or one the hypervisor has. */
  exists(domid: number): boolean {
    return domid === 0 || this.domains.has(domid) || (this.host.guests?.domainExists?.(domid) ?? true);
  }

  isIntroduced(domid: number): boolean {
    return domid === 0 || this.domains.has(domid);
  }

  /** A connection went away: a guest whose ring broke stays introduced without one, as in C. */
  forgetConnection(conn: Connection): void {
    for (const domain of this.domains.values()) {
      if (domain.connection === conn) domain.connection = undefined;
    }
  }

  private releaseDomain(domid: number): void {
    const domain = this.domains.get(domid);
    if (domain === undefined) return;
    this.domains.delete(domid);
    const conn = domain.connection;
    if (conn !== undefined && !conn.closed) this.host.closeGuest(conn);
    for (const other of this.host.connections()) if (other.target === domid) other.target = undefined;
    // The references this domain held go with its connection (talloc frees its children); a
    // dead target they kept goes with the last one, before this domain itself, as in C.
    for (const holder of domain.targetedBy) removeOne(holder.targets, domain);
    domain.targetedBy.length = 0;
    for (const target of domain.targets.splice(0)) {
      removeOne(target.targetedBy, domain);
      if (target.gone && target.targetedBy.length === 0) this.releaseDomain(target.domid);
    }
    this.host.store.releaseDomain(domid);
    this.host.fireSpecial(XS_RELEASE_DOMAIN_PATH);
    // C's destroy_domain() gives the credit back after firing @releaseDomain.
    this.host.credits.removeDomain(domain.wrl);
  }
}

/** Remove one occurrence of `item` (the last) from `list`. */
function removeOne<T>(list: T[], item: T): void {
  const i = list.lastIndexOf(item);
  if (i >= 0) list.splice(i, 1);
}
