/** The xenstore ring page: layout, the two stream ends, and the daemon's guest connector. */
export * from './layout.js';
export { XsRingPage, REQ_HALF, RSP_HALF, RING_CORRUPT, type RingHalf } from './page.js';
export { RingByteStream, GuestRingStream, DaemonRingStream, type RingEnd, type RingStreamOptions } from './stream.js';
export { evtchnDoorbell, type RingDoorbell, type DoorbellRelease } from './doorbell.js';
export { createGuestConnector, openGuestRingStream, type RingGuestConnector, type GuestConnectorOptions, type GuestRingOptions } from './connector.js';
