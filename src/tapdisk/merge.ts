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
 * group g's members, in ascending sector order. A group of one is an unmerged request.
 */
export class MergePlan {
  readonly order: Uint32Array;
  readonly groupStart: Uint32Array;
  groups = 0;

  constructor(readonly capacity: number) {
    this.order = new Uint32Array(capacity);
    this.groupStart = new Uint32Array(capacity + 1);
  }

  members(group: number): number {
    return this.groupStart[group + 1]! - this.groupStart[group]!;
  }
}

function mergeable(op: TdOp): boolean {
  return op === TdOp.Read || op === TdOp.Write;
}

/** Sort key comparison: by op, then by sector, then by batch position (stable). */
function before(batch: readonly MergeInput[], a: number, b: number): boolean {
  const ra = batch[a]!;
  const rb = batch[b]!;
  if (ra.op !== rb.op) return ra.op < rb.op;
  if (ra.sector !== rb.sector) return ra.sector < rb.sector;
  return a < b;
}

/** Plan merges for batch[0, count). Requests other than reads and writes stay alone. */
export function planMerges(batch: readonly MergeInput[], count: number, limits: MergeLimits, plan: MergePlan): void {
  assert(count <= plan.capacity, 'merge batch larger than the plan');
  const order = plan.order;
  // Insertion sort of the indexes: batches are small (bounded by the queue depth), and this
  // allocates nothing.
  for (let i = 0; i < count; i++) {
    let j = i;
    while (j > 0 && before(batch, i, order[j - 1]!)) {
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
