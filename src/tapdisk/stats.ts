import { TdOp } from './api.js';

/** Latency histogram buckets: bucket i counts latencies in [2^i, 2^(i+1)) microseconds; the
 *  first also takes anything under 1 us and the last anything above. */
export const LATENCY_BUCKETS = 24;

/** Request counters of one VBD, by op (index = TdOp). Updated in place on the data path. */
export class VbdCounters {
  readonly requests = new Float64Array(4);
  readonly sectors = new Float64Array(4);
  readonly errors = new Float64Array(4);
  /** Requests that went to the driver inside a merged operation (not counting the first). */
  merges = 0;
  timeouts = 0;
  readonly latency = new Float64Array(LATENCY_BUCKETS);

  record(op: TdOp, sectors: number, ok: boolean, latencyMs: number): void {
    this.requests[op]! += 1;
    this.sectors[op]! += sectors;
    if (!ok) this.errors[op]! += 1;
    const us = latencyMs * 1000;
    // floor(log2(us)) for us >= 1 without a transcendental call on every completion.
    let bucket = us < 2 ? 0 : 31 - Math.clz32(us);
    if (bucket >= LATENCY_BUCKETS) bucket = LATENCY_BUCKETS - 1;
    this.latency[bucket]! += 1;
  }

  /** record() for a request that completed inside the call that queued it: latency 0. */
  recordNow(op: TdOp, sectors: number, ok: boolean): void {
    this.requests[op]! += 1;
    this.sectors[op]! += sectors;
    if (!ok) this.errors[op]! += 1;
    this.latency[0]! += 1;
  }
}

/** A snapshot of a VBD's statistics, as the control plane reports it. */
export interface OpStats {
  requests: number;
  sectors: number;
  errors: number;
}

export interface VbdStats {
  read: OpStats;
  write: OpStats;
  flush: OpStats;
  discard: OpStats;
  merges: number;
  timeouts: number;
  /** Requests handed to the driver and not yet completed. */
  inFlight: number;
  /** Requests queued and not yet handed to the driver. */
  pending: number;
  /** Bytes the CPU copied into or out of guest memory (0 for the raw driver: zero copy). */
  bytesCopied: number;
  /** latency[i] counts requests that took [2^i, 2^(i+1)) microseconds. */
  latencyUs: number[];
  /** Counters of the layer feeding the VBD (blkback's rings), when one is attached. */
  rings?: RingCounterReport;
}

/** Named counters (kebab-case names); an array is a histogram. */
export type CounterSet = Record<string, number | number[]>;

/** What blkback reports for a VBD: the total over its rings, and each ring. */
export interface RingCounterReport {
  total: CounterSet;
  rings: CounterSet[];
}

export function snapshot(c: VbdCounters, inFlight: number, pending: number, bytesCopied: number,
  rings: RingCounterReport | undefined): VbdStats {
  const op = (o: TdOp): OpStats => ({ requests: c.requests[o]!, sectors: c.sectors[o]!, errors: c.errors[o]! });
  return {
    read: op(TdOp.Read),
    write: op(TdOp.Write),
    flush: op(TdOp.Flush),
    discard: op(TdOp.Discard),
    merges: c.merges,
    timeouts: c.timeouts,
    inFlight,
    pending,
    bytesCopied,
    latencyUs: Array.from(c.latency),
    ...(rings ? { rings } : {}),
  };
}
