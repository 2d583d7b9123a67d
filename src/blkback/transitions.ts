/**
 * The backend's xenbus state machine as one explicit table (blkif.h "STATE DIAGRAMS", with
 * Linux xen-blkback's frontend_changed() as the behavioural reference).
 *
 * Input: the backend's own state, the frontend's state (Unknown when its node is absent), whether
 * the toolstack still wants the device (`online`), and the event that happened. Output: one
 * action for the device to perform and the state to switch to afterwards (undefined: keep).
 * Rows are tried in order and the first match wins; the last row matches everything, so every
 * input has exactly one answer. test/blkback/transitions.test.ts walks all of them.
 */
import { XenbusState } from '../xenstore-sim/xenbus/index.js';

export enum BackendEvent {
  /** The image was opened and the transport features were published. */
  Probed = 'probed',
  /** The frontend's `state` node changed (or vanished: frontend state Unknown). */
  FrontendChanged = 'frontend-changed',
  /** The toolstack wrote online=0 (detach). */
  OnlineOff = 'online-off',
  /** A detach did not complete within its deadline. */
  DetachTimeout = 'detach-timeout',
  /** The toolstack removed the backend directory. */
  BackendGone = 'backend-gone',
  /** The image changed size while connected. */
  Resized = 'resized',
  /** Something failed that the frontend must be told about (ring overflow, bad keys, open failure). */
  Fatal = 'fatal',
}

/** Every event, in declaration order (a string enum's values are exactly its members). */
export const BACKEND_EVENTS: readonly BackendEvent[] = Object.values(BackendEvent);

export enum BackendAction {
  None = 'none',
  /** Write the InitWait feature keys (done by the probe itself; the row only switches state). */
  PublishFeatures = 'publish-features',
  /** Re-read every frontend key, map the rings, publish the device properties. */
  Connect = 'connect',
  /** Tear the rings down once in-flight requests finish (idempotent). */
  Disconnect = 'disconnect',
  /** Write the `error` node, then tear down. */
  Fail = 'fail',
  /** Rewrite `sectors`, then rewrite `state` so the frontend's watch fires. */
  Resize = 'resize',
  /** Tear down and forget the device: the toolstack detached it or removed its directory. */
  Remove = 'remove',
}

export interface Transition {
  action: BackendAction;
  /** The state to write after the action; undefined keeps the current one. */
  next: XenbusState | undefined;
}

type StateSet = readonly XenbusState[] | 'any';
type Online = boolean | 'any';

interface Row {
  event: BackendEvent | 'any';
  back: StateSet;
  front: StateSet;
  online: Online;
  action: BackendAction;
  next: XenbusState | undefined;
  /** Why, in a few words; shown by tests and docs. */
  why: string;
}

const S = XenbusState;
/** States in which our rings may be mapped (we never use Initialised or Reconfigur*). */
const NOT_PROBED = [S.Unknown, S.Initialising] as const;
const LIVE = [S.Initialising, S.InitWait, S.Initialised, S.Connected] as const;
const FRONT_READY = [S.Initialised, S.Connected] as const;
/** Frontend states in which it holds no ring: nothing to wait for when detaching. */
const FRONT_IDLE = [S.Unknown, S.Initialising, S.Closed] as const;
/** Frontend states blkif.h never has a frontend enter; Linux answers them with xenbus_dev_fatal. */
const FRONT_INVALID = [S.InitWait, S.Reconfiguring, S.Reconfigured] as const;

const row = (
  event: BackendEvent | 'any',
  back: StateSet,
  front: StateSet,
  online: Online,
  action: BackendAction,
  next: XenbusState | undefined,
  why: string,
): Row => ({ event, back, front, online, action, next, why });

const E = BackendEvent;
const A = BackendAction;

export const TRANSITIONS: readonly Row[] = [
  // The toolstack removing the directory ends everything, whatever the states.
  row(E.BackendGone, 'any', 'any', 'any', A.Remove, undefined, 'directory removed: forget the device'),

  // Probe: the image is open and features are published.
  row(E.Probed, [...NOT_PROBED], 'any', true, A.PublishFeatures, S.InitWait, 'probe done'),
  row(E.Probed, [...NOT_PROBED], 'any', false, A.Remove, S.Closed, 'probe done, but already detached'),

  // Errors: tell the frontend through `error` and Closing (xenbus_dev_fatal).
  row(E.Fatal, [...LIVE], 'any', 'any', A.Fail, S.Closing, 'fatal error'),
  row(E.Fatal, [S.Unknown, S.Reconfiguring, S.Reconfigured], 'any', 'any', A.Fail, S.Closing, 'fatal error'),

  // Toolstack detach (online=0): close at once when the frontend holds no ring, else ask it to.
  row(E.OnlineOff, [S.Closed], 'any', false, A.Remove, S.Closed, 'detach of a closed device'),
  row(E.OnlineOff, 'any', [...FRONT_IDLE], false, A.Remove, S.Closed, 'detach: frontend holds no ring'),
  row(E.OnlineOff, [S.Closing], 'any', false, A.None, undefined, 'detach: already closing'),
  row(E.OnlineOff, 'any', 'any', false, A.None, S.Closing, 'detach: ask the frontend to close'),
  row(E.DetachTimeout, 'any', 'any', false, A.Remove, S.Closed, 'detach deadline: force it'),

  // Resize only matters to a connected frontend; a later connect publishes the new size anyway.
  row(E.Resized, [S.Connected], 'any', true, A.Resize, undefined, 'resize while connected'),

  // Frontend state changes (Linux frontend_changed()).
  row(E.FrontendChanged, [S.Closed], [S.Initialising], true, A.None, S.InitWait, 'frontend restarts: reconnect'),
  row(E.FrontendChanged, [...NOT_PROBED], 'any', 'any', A.None, undefined, 'not probed yet'),
  row(E.FrontendChanged, [S.Connected], [...FRONT_READY], true, A.None, undefined, 'already connected'),
  row(E.FrontendChanged, [S.InitWait, S.Initialised], [...FRONT_READY], true, A.Connect, S.Connected, 'connect'),
  row(E.FrontendChanged, [S.Closed], [...FRONT_READY], true, A.Connect, S.Connected, 'reconnect without Initialising'),
  row(E.FrontendChanged, [...LIVE], [S.Closing], 'any', A.None, S.Closing, 'frontend closing'),
  row(E.FrontendChanged, [S.Closed], [S.Closed, S.Unknown], false, A.Remove, undefined, 'closed and detached'),
  row(E.FrontendChanged, 'any', [S.Closed], false, A.Remove, S.Closed, 'frontend closed, detached'),
  row(E.FrontendChanged, [S.Closed], [S.Closed], true, A.None, undefined, 'already closed'),
  row(E.FrontendChanged, 'any', [S.Closed], true, A.Disconnect, S.Closed, 'frontend closed'),
  row(E.FrontendChanged, 'any', [S.Unknown], false, A.Remove, S.Closed, 'frontend gone, detached'),
  row(E.FrontendChanged, [S.InitWait], [S.Unknown], true, A.None, undefined, 'frontend not there yet'),
  row(E.FrontendChanged, [S.Initialised, S.Connected, S.Closing], [S.Unknown], true, A.Disconnect, S.Closed, 'frontend died'),
  row(E.FrontendChanged, [...LIVE], [...FRONT_INVALID], 'any', A.Fail, S.Closing, 'invalid frontend state'),

  row('any', 'any', 'any', 'any', A.None, undefined, 'nothing to do'),
];

const matchSet = (set: StateSet, s: XenbusState): boolean => set === 'any' || set.includes(s);

/** Index of the row that decides (back, front, online, event). */
export function transitionRow(back: XenbusState, front: XenbusState, online: boolean, event: BackendEvent): number {
  for (let i = 0; i < TRANSITIONS.length; i++) {
    const r = TRANSITIONS[i]!;
    if (r.event !== 'any' && r.event !== event) continue;
    if (!matchSet(r.back, back) || !matchSet(r.front, front)) continue;
    if (r.online !== 'any' && r.online !== online) continue;
    return i;
  }
  return TRANSITIONS.length - 1;
}

export function transition(back: XenbusState, front: XenbusState, online: boolean, event: BackendEvent): Transition {
  const r = TRANSITIONS[transitionRow(back, front, online, event)]!;
  return { action: r.action, next: r.next };
}
