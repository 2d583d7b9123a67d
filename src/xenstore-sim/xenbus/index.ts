/** Xenbus helpers shared by backends, frontends and the toolstack. */
export { XenbusState, parseXenbusState, formatXenbusState, xenbusStateName } from './state.js';
export { watchXenbusState, readXenbusState, waitForState, XENBUS_TIMEOUT, type XenbusStateWatch, type WatchStateOptions } from './watch.js';
export { switchState, type SwitchStateOptions } from './switch.js';
