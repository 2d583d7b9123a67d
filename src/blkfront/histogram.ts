/**
 * A latency histogram with bounded relative error and fixed memory: log-linear buckets (64
 * sub-buckets per power of two, so any recorded value is reported within 1/64 ≈ 1.6%), as
 * HdrHistogram does. Values are nanoseconds; recording allocates nothing.
 */

const SUB_BITS = 6;
const SUB_BUCKETS = 1 << SUB_BITS;
/** Powers of two covered: up to 2^40 ns (about 18 minutes). */
const EXPONENTS = 41;

export class LatencyHistogram {
  private readonly counts = new Float64Array(EXPONENTS * SUB_BUCKETS);
  count = 0;
  minNs = Infinity;
  maxNs = 0;
  sumNs = 0;

  record(ns: number): void {
    const v = ns < 1 ? 1 : Math.min(Math.round(ns), 2 ** EXPONENTS - 1);
    this.counts[bucketOf(v)]!++;
    this.count++;
    this.sumNs += v;
    if (v < this.minNs) this.minNs = v;
    if (v > this.maxNs) this.maxNs = v;
  }

  /** The value at percentile `p` (0..100): the midpoint of the bucket holding it. */
  percentile(p: number): number {
    if (this.count === 0) return 0;
    const rank = Math.max(1, Math.ceil((p / 100) * this.count));
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return Math.min(Math.max(bucketMid(i), this.minNs), this.maxNs);
    }
    return this.maxNs;
  }

  meanNs(): number {
    return this.count === 0 ? 0 : this.sumNs / this.count;
  }

  merge(other: LatencyHistogram): void {
    for (let i = 0; i < this.counts.length; i++) this.counts[i]! += other.counts[i]!;
    this.count += other.count;
    this.sumNs += other.sumNs;
    this.minNs = Math.min(this.minNs, other.minNs);
    this.maxNs = Math.max(this.maxNs, other.maxNs);
  }
}

/** Values below 64 get a bucket each; above, the top 6 bits after the leading one select it. */
function bucketOf(v: number): number {
  if (v < SUB_BUCKETS) return v;
  const exp = Math.floor(Math.log2(v));
  const shift = exp - SUB_BITS;
  const sub = Math.floor(v / 2 ** shift) - SUB_BUCKETS;
  return (exp - SUB_BITS + 1) * SUB_BUCKETS + sub;
}

function bucketLow(i: number): number {
  const group = Math.floor(i / SUB_BUCKETS);
  const sub = i % SUB_BUCKETS;
  if (group === 0) return sub;
  const shift = group - 1;
  return (SUB_BUCKETS + sub) * 2 ** shift;
}

function bucketMid(i: number): number {
  const group = Math.floor(i / SUB_BUCKETS);
  if (group <= 1) return bucketLow(i);
  return bucketLow(i) + 2 ** (group - 1) / 2;
}
