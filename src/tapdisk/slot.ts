import { TdOp, type TdRequest } from './api.js';
import type { MergeLimits } from './merge.js';

/** Free, at the driver, or timed out and waiting for the driver's late completion. */
export const enum SlotState { Free = 0, Busy = 1, Abandoned = 2 }

/** One operation at the driver: a request, or a run of merged requests. */
export class Slot {
  state = SlotState.Free;
  startMs = 0;
  count = 0;
  readonly members: (TdRequest | null)[];
  readonly memberStartMs: Float64Array;
  /** Own segment arrays, used when the slot carries a merged run. */
  readonly mergedRegion: Uint32Array;
  readonly mergedOffset: Uint32Array;
  readonly mergedLength: Uint32Array;
  readonly req: TdRequest;

  constructor(index: number, limits: MergeLimits, done: TdRequest['done']) {
    this.members = new Array<TdRequest | null>(limits.membersMax).fill(null);
    this.memberStartMs = new Float64Array(limits.membersMax);
    this.mergedRegion = new Uint32Array(limits.segmentsMax);
    this.mergedOffset = new Uint32Array(limits.segmentsMax);
    this.mergedLength = new Uint32Array(limits.segmentsMax);
    this.req = {
      op: TdOp.Read, sector: 0, sectors: 0, secure: false, segments: 0,
      segRegion: this.mergedRegion, segOffset: this.mergedOffset, segLength: this.mergedLength,
      done, tag: index,
    };
  }
}

/**
 * Give `to` (a slot's or the carrier's own request) what the driver needs of `from`: the op,
 * the range and `from`'s own segment arrays, referenced, not copied. `to` keeps its done and tag,
 * so that the completion comes back to the VBD.
 */
export function carry(to: TdRequest, from: TdRequest): void {
  to.op = from.op;
  to.sector = from.sector;
  to.sectors = from.sectors;
  to.secure = from.secure;
  to.segments = from.segments;
  to.segRegion = from.segRegion;
  to.segOffset = from.segOffset;
  to.segLength = from.segLength;
}
