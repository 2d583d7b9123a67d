/*
 * C xenstored 4.17's write rate limiting ("wrl", tools/xenstore/xenstored_domain.c): each
 * domain earns write credit over time, each write of an unprivileged domain that may conflict
 * with a transaction costs credit, and a domain in debt is not read until it has earned its way
 * back to zero. Credits are fixed point: WRL_FACTOR units per write.
 *
 * This file is the arithmetic only, with the clock passed in: no timers and no I/O. The server
 * decides when to debit and arms the wake-up timer (server.ts).
 */

/** C's WRL_FACTOR: credit units per write (fixed point). */
const WRL_FACTOR = 1000;
/** wrl_config_writecost: what one write costs. */
export const WRL_WRITE_COST = WRL_FACTOR;
/** wrl_config_rate: credit earned per second by all domains together (WRL_RATE, 200 writes/s). */
export const WRL_RATE_PER_S = 200 * WRL_FACTOR;
/** wrl_config_dburst: what one domain may save up (WRL_DBURST, 10 writes). */
export const WRL_DOMAIN_BURST = 10 * WRL_FACTOR;
/** wrl_config_gburst: the most the shared reserve holds (WRL_GBURST, 1000 writes). */
export const WRL_GLOBAL_BURST = 1000 * WRL_FACTOR;
/**
 * wrl_config_newdoms_dburst: how far the reserve may go into debt to give new domains their
 * first burst (WRL_DBURST * WRL_NEWDOMS, 5 domains' worth).
 */
export const WRL_NEW_DOMAINS_BURST = 10 * 5 * WRL_FACTOR;
/** WRL_CREDIT_MAX: saturation, which keeps every sum far inside C's int32_t. */
const WRL_CREDIT_MAX = 1000 * 1000 * 1000;
/** WRL_LOGEVERY: after this long without rate limiting, C logs that it is no longer in force. */
const WRL_LOG_EVERY_S = 120;
/** wrl_credit_update() caps the elapsed seconds it counts (C: against overflow). */
const ELAPSED_S_MAX = 1000 * 1000;
/** C's poll() timeout is an int: a wake-up further away is clamped to INT_MAX ms. */
const WAKEUP_MS_MAX = 0x7fffffff;

/** One domain's write credit (C's domain->wrl_credit, wrl_timestamp, wrl_delay_logged). */
export interface WrlCredit {
  readonly domid: number;
  /** Negative while the domain is in debt: then it is not read (domain_can_read()). */
  credit: number;
  /** When `credit` was last brought up to date, in whole milliseconds of `nowMs`. */
  timestampMs: number;
  /** Set once the domain was reported as rate limited (C logs each domain once). */
  delayLogged: boolean;
}

export interface WriteRateLimitOptions {
  /** A monotonic clock in milliseconds (C: CLOCK_MONOTONIC); whole milliseconds are used. */
  nowMs: () => number;
}

/**
 * The global state of C's wrl: the domains that earn credit (C's wrl_ndomains counts every
 * introduced domain, dom0 included), and the reserve (wrl_reserve), which idle domains' surplus
 * fills and which covers other domains' debts.
 */
export class WriteRateLimit {
  /** Where C's trace() lines and its "write rate limit: ..." syslog warnings go; undefined: nowhere. */
  trace: ((line: string) => void) | undefined;
  /** Every domain with credit, in C's connection order (dom0 first, then by introduction). */
  private readonly domains: WrlCredit[] = [];
  /** wrl_reserve, in [-WRL_NEW_DOMAINS_BURST, WRL_GLOBAL_BURST]. */
  private reserveCredit = 0;
  /** wrl_log_last_warning: seconds of the last debt, undefined when none is recent. */
  private lastWarningS: number | undefined;
  private readonly nowMs: () => number;

  constructor(opts: WriteRateLimitOptions) {
    this.nowMs = () => Math.floor(opts.nowMs());
  }

  get reserve(): number {
    return this.reserveCredit;
  }

  get domainCount(): number {
    return this.domains.length;
  }

  /**
   * wrl_domain_new(): a domain starts with no credit and borrows up to a burst from the
   * reserve, which may go into debt for it. The others are brought up to date first, at the
   * old domain count (C's main loop did so before it read the INTRODUCE).
   */
  addDomain(domid: number): WrlCredit {
    const now = this.nowMs();
    this.updateAll(now);
    const domain: WrlCredit = { domid, credit: 0, timestampMs: now, delayLogged: false };
    this.domains.push(domain);
    const moved = xfer(this.reserveCredit, -WRL_NEW_DOMAINS_BURST, domain.credit, WRL_DOMAIN_BURST);
    this.reserveCredit -= moved;
    domain.credit += moved;
    return domain;
  }

  /**
   * wrl_domain_destroy(): the domain's credit (not what it earned since its last update, as
   * in C) goes back to the reserve, up to a burst.
   */
  removeDomain(domain: WrlCredit): void {
    const index = this.domains.indexOf(domain);
    if (index < 0) return;
    this.updateAll(this.nowMs());
    this.domains.splice(index, 1);
    const moved = xfer(domain.credit, 0, this.reserveCredit, WRL_DOMAIN_BURST);
    domain.credit -= moved;
    this.reserveCredit += moved;
  }

  /**
   * C's main loop calls wrl_credit_update() for every domain on each turn (wrl_check_timeout()
   * from initialize_fds()). We have no such loop: every decision that depends on credit (a
   * debit, reading a domain in debt, its wake-up, a domain coming or going) first brings all
   * domains up to date, in connection order, as C's last turn before it would have.
   */
  updateAll(now: number): void {
    this.logPeriodic(now);
    for (const domain of this.domains) this.update(domain, now);
  }

  /**
   * wrl_credit_update(): credit for the whole milliseconds since the last update, this
   * domain's share of the rate; a debt is covered from the reserve as far as it holds credit;
   * credit over a domain's burst goes to the reserve, and what the reserve cannot hold is lost.
   */
  update(domain: WrlCredit, now: number): void {
    const msec = elapsedMs(domain.timestampMs, now);
    domain.credit = Math.min(domain.credit + Math.floor((msec * WRL_RATE_PER_S) / (this.domains.length * 1000)), WRL_CREDIT_MAX);
    const cover = xfer(this.reserveCredit, 0, domain.credit, 0);
    this.reserveCredit -= cover;
    domain.credit += cover;
    const surplus = xfer(domain.credit, WRL_DOMAIN_BURST, 0, WRL_CREDIT_MAX);
    domain.credit -= surplus;
    const kept = xfer(surplus, 0, this.reserveCredit, WRL_GLOBAL_BURST);
    this.reserveCredit += kept;
    domain.timestampMs = now;
    this.trace?.(`wrl: dom ${pad(domain.domid, 4)} ${pad(msec, 6)}  msec  ${pad(domain.credit, 9)} credit   ${pad(this.reserveCredit, 9)} reserve  ${pad(surplus - kept, 9)} discard`);
  }

  /**
   * `count` writes of one request: C's wrl_apply_debit_actual() for each (the caller has
   * checked that the domain is unprivileged and that the writes are to be paid for).
   */
  debit(domain: WrlCredit, count: number): void {
    const now = this.nowMs();
    this.updateAll(now);
    for (let i = 0; i < count; i++) this.debitOne(domain, now);
  }

  private debitOne(domain: WrlCredit, now: number): void {
    this.update(domain, now);
    domain.credit -= WRL_WRITE_COST;
    this.trace?.(`wrl: domain ${domain.domid} credit=${domain.credit} (reserve=${this.reserveCredit})`);
    if (domain.credit >= 0) return;
    // C's WRL_LOG() goes to syslog; ours goes to the trace file, as the soft memory quota's.
    if (!domain.delayLogged) {
      domain.delayLogged = true;
      this.trace?.(`write rate limit: domain ${domain.domid} is affected`);
    } else if (this.lastWarningS === undefined) {
      this.trace?.('write rate limit: rate limiting restarts');
    }
    this.lastWarningS = Math.floor(now / 1000);
  }

  /**
   * For a domain in debt (the caller checked `credit < 0`, the hot path's only cost): after
   * bringing every domain up to date, how many milliseconds until it has earned back to zero
   * at its share of the rate (C's wrl_check_timeout() poll timeout), or undefined when the
   * reserve or the time passed has cleared the debt.
   */
  blockedForMs(domain: WrlCredit): number | undefined {
    this.updateAll(this.nowMs());
    if (domain.credit >= 0) return undefined;
    const wakeupMs = Math.min(Math.floor((-domain.credit * 1000 * this.domains.length) / WRL_RATE_PER_S), WAKEUP_MS_MAX);
    this.trace?.(`wrl: domain ${domain.domid} credit=${domain.credit} (reserve=${this.reserveCredit}) SLEEPING for ${wakeupMs}`);
    return wakeupMs;
  }

  /** wrl_log_periodic(): a notice once nobody went into debt for WRL_LOG_EVERY_S. */
  private logPeriodic(now: number): void {
    if (this.lastWarningS === undefined || Math.floor(now / 1000) - this.lastWarningS <= WRL_LOG_EVERY_S) return;
    this.trace?.('write rate limit: not in force recently');
    this.lastWarningS = undefined;
  }
}

/**
 * wrl_xfer_credit(): how much to move from `debit` to `credit` so that debit stays at or above
 * `debitFloor` and credit at or below `creditCeil` (0 when either is already past its bound).
 */
export function xfer(debit: number, debitFloor: number, credit: number, creditCeil: number): number {
  return Math.max(0, Math.min(debit - debitFloor, creditCeil - credit));
}

/**
 * C counts whole seconds and milliseconds of CLOCK_MONOTONIC apart (seconds capped, a
 * negative result 0), which on whole milliseconds is their difference.
 */
function elapsedMs(fromMs: number, toMs: number): number {
  const seconds = Math.min(Math.floor(toMs / 1000) - Math.floor(fromMs / 1000), ELAPSED_S_MAX);
  const msec = seconds * 1000 + (toMs % 1000) - (fromMs % 1000);
  return msec < 0 ? 0 : msec;
}

/** printf's "%Nd": right-aligned in `width` columns. */
function pad(n: number, width: number): string {
  return String(n).padStart(width);
}
