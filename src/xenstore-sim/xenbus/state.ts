/**
 * enum xenbus_state of xen/io/xenbus.h: the state a backend and a frontend each publish in
 * their device directory's `state` node, as a decimal string. Parse it here, at the xenstore
 * boundary, so the rest of the code never compares strings.
 */
export enum XenbusState {
  Unknown = 0, // XenbusStateUnknown
  Initialising = 1, // XenbusStateInitialising
  InitWait = 2, // XenbusStateInitWait: finished early initialisation, waiting for the peer
  Initialised = 3, // XenbusStateInitialised: ready to connect
  Connected = 4, // XenbusStateConnected
  Closing = 5, // XenbusStateClosing: the device is being closed
  Closed = 6, // XenbusStateClosed
  Reconfiguring = 7, // XenbusStateReconfiguring
  Reconfigured = 8, // XenbusStateReconfigured
}

const XENBUS_STATE_MAX = XenbusState.Reconfigured;

/** "4" -> XenbusState.Connected; undefined for anything that is not a decimal 0..8. */
export function parseXenbusState(text: string): XenbusState | undefined {
  if (!/^\d{1,2}$/.test(text)) return undefined;
  const n = Number(text);
  return n <= XENBUS_STATE_MAX ? (n as XenbusState) : undefined;
}

/** The value to write into a `state` node. */
export function formatXenbusState(state: XenbusState): string {
  return String(state);
}

/** "Connected", for logs and human output. */
export function xenbusStateName(state: XenbusState): string {
  return XenbusState[state] ?? `Invalid(${String(state)})`;
}
