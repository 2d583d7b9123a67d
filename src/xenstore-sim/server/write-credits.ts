import type { XsStore } from '../store/index.js';
import { XsType, type XsPacket } from '../wire/messages.js';
import type { DaemonClock } from './clock.js';
import type { Connection } from './connection.js';
import { WriteRateLimit, type WrlCredit } from './write-rate-limit.js';

/**
 * The server's side of C's write rate limit (write-rate-limit.ts has the arithmetic): which
 * requests pay, when, and the wake-up of guests held for credit. Dom0 earns credit (C counts
 * it among wrl_ndomains) but never pays; socket and in-process connections have no credit.
 */
export class WriteCredits {
  private readonly limit: WriteRateLimit;
  /**
   * The store's next generation when the current request's writes are to be paid for (C's
   * wrl_apply_debit_direct()), else -1; the writes are charged before the reply is sent.
   */
  private debitMark = -1;
  /** Wakes guests held for credit at the earliest time one of them has earned it back. */
  private cancelTimer: (() => void) | undefined;
  private timerDueMs = 0;

  /** `retryHeld` reads held guests again (the server's retryHeld()). */
  constructor(private readonly store: XsStore, private readonly clock: DaemonClock, private readonly retryHeld: () => void) {
    this.limit = new WriteRateLimit({ nowMs: clock.nowMs });
    // C's dom0_init() introduces dom0 at start-up.
    this.limit.addDomain(0);
  }

  set trace(trace: ((line: string) => void) | undefined) {
    this.limit.trace = trace;
  }

  /** C's new_domain(): an introduced guest's credit. */
  addDomain(domid: number): WrlCredit {
    return this.limit.addDomain(domid);
  }

  /** C's destroy_domain(): its credit goes back, after @releaseDomain fired. */
  removeDomain(credit: WrlCredit): void {
    this.limit.removeDomain(credit);
  }

  /**
   * A request of `conn` is about to run. C's access_node() charges a guest for every write
   * outside a transaction while any transaction is open anywhere (TRANSACTION_START takes a
   * generation but writes nothing).
   */
  beginRequest(conn: Connection, packet: XsPacket): void {
    if (conn.wrl !== undefined && packet.txId === 0 && this.store.openTransactionCount !== 0 && packet.type !== XsType.TransactionStart) {
      this.debitMark = this.store.nextGeneration;
    }
  }

  /** C's wrl_apply_debit_direct(): the writes the current request made so far, one debit each. */
  chargeWrites(conn: Connection): void {
    if (this.debitMark < 0) return;
    const writes = this.store.nextGeneration - this.debitMark;
    this.debitMark = -1;
    if (writes > 0 && conn.wrl !== undefined) this.limit.debit(conn.wrl, writes);
  }

  /**
   * C's wrl_apply_debit_trans_commit(): a guest's commit costs one write when another
   * transaction is open (C counts the ending one until the request is done, so it checks for
   * more than one; our store has let go of it already).
   */
  committed(conn: Connection): void {
    if (conn.wrl !== undefined && this.store.openTransactionCount !== 0) this.limit.debit(conn.wrl, 1);
  }

  /** Whether the guest is in debt: a compare on the hot path. */
  inDebt(conn: Connection): boolean {
    return conn.wrl !== undefined && conn.wrl.credit < 0;
  }

  /**
   * C's domain_can_read() as far as credit goes. For a guest in debt every domain's credit is
   * brought up to date first, and one still in debt is woken by a timer once it has earned
   * its credit back.
   */
  mayRead(conn: Connection): boolean {
    if (!this.inDebt(conn)) return true;
    const waitMs = this.limit.blockedForMs(conn.wrl!);
    if (waitMs === undefined) return true;
    this.wakeHeldIn(waitMs);
    return false;
  }

  /** Arm the timer for `waitMs` from now, unless it is due earlier already. */
  private wakeHeldIn(waitMs: number): void {
    const due = this.clock.nowMs() + waitMs;
    if (this.cancelTimer !== undefined && this.timerDueMs <= due) return;
    this.cancelTimer?.();
    this.timerDueMs = due;
    // The clock's timers do not keep the process alive: a held guest alone must not either.
    this.cancelTimer = this.clock.after(waitMs, () => {
      this.cancelTimer = undefined;
      this.retryHeld();
    });
  }

  close(): void {
    this.cancelTimer?.();
    this.cancelTimer = undefined;
  }
}
