/**
 * Per-ring counters, named after Linux xen-blkback's sysfs statistics (oo_req, rd_req, wr_req,
 * f_req, ds_req, rd_sect, wr_sect), plus notifications, event storms and a batch-size histogram.
 * Updated in place on the data path; snapshot() builds the plain object the control plane and
 * `splitblk tap stats` report (kebab-case keys, raw counts).
 */

/** Batch histogram: bucket i counts batches of [2^i, 2^(i+1)) requests; the last takes the rest. */
export const BATCH_BUCKETS = 12;

export class RingCounters {
  /** Times a request had to wait for a free request slot or segment table (Linux oo_req). */
  ooReq = 0;
  rdReq = 0;
  wrReq = 0;
  /** FLUSH_DISKCACHE and WRITE_BARRIER (Linux f_req). */
  fReq = 0;
  dsReq = 0;
  /** Of which INDIRECT (counted in rd_req/wr_req too). */
  indirectReq = 0;
  rdSect = 0;
  wrSect = 0;
  dsSect = 0;
  /** Requests answered BLKIF_RSP_ERROR / BLKIF_RSP_EOPNOTSUPP. */
  errors = 0;
  notSupported = 0;
  notifyIn = 0;
  notifyOut = 0;
  /** Notifications that found no new request (a frontend kicking without work). */
  spuriousEvents = 0;
  /** Times a burst of spurious notifications crossed the storm threshold. */
  eventStorms = 0;
  /** Processing passes cut short by the per-notification work bound and rescheduled. */
  reschedules = 0;
  persistentHits = 0;
  persistentMisses = 0;
  /** Misses mapped for their request only because the persistent cache was full. */
  persistentOverflows = 0;
  /** Persistent grants unmapped by background purges to make room. */
  persistentPurged = 0;
  readonly batches = new Float64Array(BATCH_BUCKETS);

  recordBatch(requests: number): void {
    if (requests === 0) return;
    let bucket = 31 - Math.clz32(requests);
    if (bucket >= BATCH_BUCKETS) bucket = BATCH_BUCKETS - 1;
    this.batches[bucket]! += 1;
  }

  /** Add another ring's counts (for the per-VBD total). */
  addTo(total: RingCounters): void {
    for (const key of COUNTER_KEYS) total[key] += this[key];
    for (let i = 0; i < BATCH_BUCKETS; i++) total.batches[i]! += this.batches[i]!;
  }
}

type CounterKey = {
  [K in keyof RingCounters]: RingCounters[K] extends number ? K : never;
}[keyof RingCounters];

const COUNTER_KEYS: readonly CounterKey[] = [
  'ooReq', 'rdReq', 'wrReq', 'fReq', 'dsReq', 'indirectReq', 'rdSect', 'wrSect', 'dsSect', 'errors',
  'notSupported', 'notifyIn', 'notifyOut', 'spuriousEvents', 'eventStorms', 'reschedules',
  'persistentHits', 'persistentMisses', 'persistentOverflows', 'persistentPurged',
];

export type RingStats = Record<string, number | number[]>;

const kebab = (key: string): string => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

export function snapshotRing(c: RingCounters): RingStats {
  const out: RingStats = {};
  for (const key of COUNTER_KEYS) out[kebab(key)] = c[key];
  out['batch-sizes'] = Array.from(c.batches);
  return out;
}

/** The per-VBD total over its rings, and each ring. */
export function snapshotVbd(rings: readonly RingCounters[]): { total: RingStats; rings: RingStats[] } {
  const total = new RingCounters();
  for (const r of rings) r.addTo(total);
  return { total: snapshotRing(total), rings: rings.map(snapshotRing) };
}
