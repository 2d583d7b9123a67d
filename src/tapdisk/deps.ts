import { TdOp } from './api.js';

/**
 * Ordering rules between two requests, as a pure function: the scheduler asks it whether a
 * later request may start while an earlier one is still queued or in flight.
 *
 *  - A Flush is a barrier: it waits for everything before it, and everything after it waits
 *    for it.
 *  - Two reads never conflict.
 *  - Otherwise (a write or discard on either side) requests conflict when their sector ranges
 *    overlap, so a read after a write to the same sectors sees the write, and two writes land
 *    in order.
 */
export function conflicts(
  earlierOp: TdOp, earlierSector: number, earlierSectors: number,
  laterOp: TdOp, laterSector: number, laterSectors: number,
): boolean {
  if (earlierOp === TdOp.Flush || laterOp === TdOp.Flush) return true;
  if (earlierOp === TdOp.Read && laterOp === TdOp.Read) return false;
  return earlierSector < laterSector + laterSectors && laterSector < earlierSector + earlierSectors;
}
