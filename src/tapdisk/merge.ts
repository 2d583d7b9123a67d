import { TdOp, SECTOR_SIZE, type TdRequest } from './api.js';
import { assert } from '../util/assert.js';

/**
 * Request merging, as a pure module (no I/O, no allocation after construction): given a batch
 * of requests that are free to run in any order (the dependency tracker guarantees that), find
 * runs of reads or writes whose sector ranges are contiguous and that fit the limits, so each
 * run can go to the driver as one vectored operation, and copy the runs' segment triples into
 * one request.
 */

export interface MergeLimits {
  /** Iovecs in one merged operation. */
  segmentsMax: number;
  /** Bytes in one merged operation. */
  bytesMax: number;
  /** Requests in one merged operation. */
  membersMax: number;
}

/** The fields of a request the planner looks at. */
export type MergeInput = Pick<TdRequest, 'op' | 'sector' | 'sectors' | 'segments'>;

/**
 * The result of planMerges: `order[groupStart[g] .. groupStart[g + 1])` are the batch indexes of
 * group g's members, in ascending sector order. A group of one is an unmerged request. When
 * nothing in the batch can merge, every request is a group of one, in batch order.
 */
export class MergePlan {
  readonly order: Uint32Array;
  readonly groupStart: Uint32Array;
  /** Scratch: the sort key of each batch index (see sortKey). */
  readonly keys: Float64Array;
  /** Scratch: an open-addressing set of the batch's run ends (see mayMerge). An entry is live
   *  only while its stamp is the current call's, which spares clearing the table per batch. */
  readonly endKeys: Float64Array;
  readonly endStamps: Uint32Array;
  readonly endShift: number;
  stamp = 0;
  groups = 0;

  constructor(readonly capacity: number) {
    this.order = new Uint32Array(capacity);
    this.groupStart = new Uint32Array(capacity + 1);
    this.keys = new Float64Array(capacity);
    // A power of two at least twice the batch, so probes stay short.
    const bits = Math.max(3, 32 - Math.clz32(Math.max(1, capacity * 2 - 1)));
    this.endKeys = new Float64Array(1 << bits);
    this.endStamps = new Uint32Array(1 << bits);
    this.endShift = 32 - bits;
  }

  members(group: number): number {
    return this.groupStart[group + 1]! - this.groupStart[group]!;
  }
}

function mergeable(op: TdOp): boolean {
  return op === TdOp.Read || op === TdOp.Write;
}

/** Sectors below this fit under the op in one exactly representable key: 2^52 bytes (the
 *  largest disk a spec may ask for) is 2^43 sectors of 512 bytes, and 4 ops * 2^44 < 2^53. */
const KEY_OP_SCALE = 2 ** 44;

/** A number that orders requests by op, then by sector; exact below 2^44 sectors. Past that
 *  (a flush's unchecked sector, a file image over 8 PiB) the order may be off, which only costs
 *  a missed merge: grouping below still checks op and contiguity itself. */
function sortKey(r: MergeInput): number {
  return r.op * KEY_OP_SCALE + r.sector;
}

/** A slot of plan's end table for `key`: a multiplicative hash of the key's low 32 bits (all
 *  that differ within a batch of nearby sectors; equal low bits only make a longer probe). */
function endSlot(plan: MergePlan, key: number): number {
  return Math.imul(key | 0, 0x9e3779b1) >>> plan.endShift;
}

/**
 * Whether some read or write of batch[0, count) starts where another of the same op ends: the
 * only way two requests can merge. Random batches (the common case at depth) have no such pair,
 * and this check costs a fraction of the sort that would find that out. May answer true when no
 * merge is possible (a request of no sectors), never false when one is.
 */
function mayMerge(batch: readonly MergeInput[], count: number, plan: MergePlan): boolean {
  const keys = plan.endKeys;
  const stamps = plan.endStamps;
  const mask = keys.length - 1;
  let stamp = (plan.stamp + 1) >>> 0;
  if (stamp === 0) {
    stamps.fill(0);
    stamp = 1;
  }
  plan.stamp = stamp;
  for (let i = 0; i < count; i++) {
    const r = batch[i]!;
    if (!mergeable(r.op)) continue;
    const key = sortKey(r) + r.sectors;
    let h = endSlot(plan, key);
    while (stamps[h] === stamp) {
      if (keys[h] === key) break;
      h = (h + 1) & mask;
    }
    keys[h] = key;
    stamps[h] = stamp;
  }
  for (let i = 0; i < count; i++) {
    const r = batch[i]!;
    if (!mergeable(r.op)) continue;
    const key = sortKey(r);
    for (let h = endSlot(plan, key); stamps[h] === stamp; h = (h + 1) & mask) {
      if (keys[h] === key) return true;
    }
  }
  return false;
}

/** Plan merges for batch[0, count). Requests other than reads and writes stay alone. */
export function planMerges(batch: readonly MergeInput[], count: number, limits: MergeLimits, plan: MergePlan): void {
  assert(count <= plan.capacity, 'merge batch larger than the plan');
  const order = plan.order;
  if (!mayMerge(batch, count, plan)) {
    for (let i = 0; i < count; i++) {
      order[i] = i;
      plan.groupStart[i] = i;
    }
    plan.groups = count;
    plan.groupStart[count] = count;
    return;
  }
  const keys = plan.keys;
  // Insertion sort of the indexes by numeric key: batches are small (bounded by the queue
  // depth), this allocates nothing, and comparing plain numbers from one typed array is several
  // times cheaper than loading two requests' fields per step (random batches shift a lot). The
  // strict comparison keeps equal keys in batch order (stable).
  for (let i = 0; i < count; i++) {
    const key = sortKey(batch[i]!);
    keys[i] = key;
    let j = i;
    while (j > 0 && key < keys[order[j - 1]!]!) {
      order[j] = order[j - 1]!;
      j--;
    }
    order[j] = i;
  }
  plan.groups = 0;
  let k = 0;
  while (k < count) {
    const first = batch[order[k]!]!;
    plan.groupStart[plan.groups++] = k;
    let end = first.sector + first.sectors;
    let segments = first.segments;
    let bytes = first.sectors * SECTOR_SIZE;
    let members = 1;
    k++;
    if (!mergeable(first.op)) continue;
    while (k < count) {
      const next = batch[order[k]!]!;
      if (next.op !== first.op || next.sector !== end) break;
      if (members + 1 > limits.membersMax) break;
      if (segments + next.segments > limits.segmentsMax) break;
      if (bytes + next.sectors * SECTOR_SIZE > limits.bytesMax) break;
      end += next.sectors;
      segments += next.segments;
      bytes += next.sectors * SECTOR_SIZE;
      members++;
      k++;
    }
  }
  plan.groupStart[plan.groups] = count;
}

/**
 * Make `target` the single operation for group g: op and range of the run, and the members'
 * segment triples concatenated in sector order. Returns the number of segments copied. The
 * target's arrays must hold limits.segmentsMax entries.
 */
export function coalesce(batch: readonly TdRequest[], plan: MergePlan, group: number, target: TdRequest): number {
  const from = plan.groupStart[group]!;
  const to = plan.groupStart[group + 1]!;
  const head = batch[plan.order[from]!]!;
  target.op = head.op;
  target.sector = head.sector;
  target.secure = head.secure;
  let n = 0;
  let sectors = 0;
  for (let k = from; k < to; k++) {
    const r = batch[plan.order[k]!]!;
    assert(n + r.segments <= target.segRegion.length, 'merged segments exceed the target');
    for (let s = 0; s < r.segments; s++, n++) {
      target.segRegion[n] = r.segRegion[s]!;
      target.segOffset[n] = r.segOffset[s]!;
      target.segLength[n] = r.segLength[s]!;
    }
    sectors += r.sectors;
  }
  target.sectors = sectors;
  target.segments = n;
  return n;
}
