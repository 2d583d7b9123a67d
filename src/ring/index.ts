/** The shared ring: one header layout (sring.ts) and the two roles over it. */
export { FrontRing } from './front.js';
export { BackRing } from './back.js';
export {
  SharedRing,
  SRING,
  RING_PAGE_BYTES,
  RING_ORDER_MAX,
  idxDiff,
  ringSlots,
  ringSlotsForOrder,
  roundDownPow2,
  slotBytes,
  type RingLayout,
} from './sring.js';
