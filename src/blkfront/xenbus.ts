/**
 * The frontend's half of blkif.h's xenbus handshake, in the order Linux xen-blkfront does it:
 *
 *   backend InitWait  → read max-ring-page-order / multi-queue-max-queues, set up the rings,
 *                       write ring-ref(s), event-channel(s), protocol, feature-persistent
 *                       (one transaction) → frontend Initialised
 *   backend Connected → read sectors, info, sector-size and the features → frontend Connected
 *   close             → frontend Closing, backend Closing/Closed → frontend Closed → backend
 *                       Closed (it has unmapped everything) → end grants, free pages
 */
import { FrontendKey, queueDir, ringRefKey } from '../blkback/keys.js';
import type { XsClient, XsOps } from '../xenstore-sim/client/api.js';
import { XenbusState, xenbusStateName } from '../xenstore-sim/xenbus/state.js';
import { switchState } from '../xenstore-sim/xenbus/switch.js';
import { readXenbusState, waitForState } from '../xenstore-sim/xenbus/watch.js';
import { SplitblkError } from '../util/errors.js';
import type { BlkfrontQueue } from './queue.js';

export const BLKFRONT_XENBUS_ERROR = 'SPLITBLK_ERR_BLKFRONT_XENBUS';

export const frontendPathOf = (domid: number, devid: number): string => `/local/domain/${domid}/device/vbd/${devid}`;

export interface BackendLocation {
  frontendPath: string;
  backendPath: string;
  backendDomid: number;
}

/** Find the backend from the frontend directory the toolstack wrote. */
export async function locateBackend(xs: XsClient, domid: number, devid: number): Promise<BackendLocation> {
  const frontendPath = frontendPathOf(domid, devid);
  const backendPath = await xs.readString(`${frontendPath}/${FrontendKey.backend}`);
  const backendIdText = await xs.readString(`${frontendPath}/${FrontendKey.backendId}`);
  if (backendPath === undefined || backendIdText === undefined || !/^\d+$/.test(backendIdText)) {
    throw new SplitblkError(BLKFRONT_XENBUS_ERROR, `no vbd ${devid} in domain ${domid} (${frontendPath} has no backend / backend-id)`, {
      domid,
      devid,
      path: frontendPath,
    });
  }
  return { frontendPath, backendPath, backendDomid: Number(backendIdText) };
}

const isGone = (s: XenbusState | undefined) => s === undefined || s === XenbusState.Closing || s === XenbusState.Closed;

/** Why the backend closed on us: its `error` node, if it wrote one. */
async function backendError(xs: XsClient, loc: BackendLocation, state: XenbusState | undefined): Promise<SplitblkError> {
  const error = await xs.readString(`${loc.backendPath}/error`).catch(() => undefined);
  const frontError = await xs.readString(`${loc.frontendPath}/error`).catch(() => undefined);
  const why = error ?? frontError;
  return new SplitblkError(
    BLKFRONT_XENBUS_ERROR,
    `backend ${loc.backendPath} went ${state === undefined ? 'away' : xenbusStateName(state)}${why === undefined ? '' : `: ${why}`}`,
    { path: loc.backendPath },
  );
}

/**
 * Wait until the backend reaches at least `wanted`; fail when it closes instead. On a reconnect
 * (`closedIsTransient`) the backend still shows Closed from the last session until it sees our
 * Initialising and goes back to InitWait (blkif.h's reconnect), so Closed means "not yet" there
 * and only the timeout fails.
 */
export async function waitForBackend(
  xs: XsClient,
  loc: BackendLocation,
  wanted: XenbusState,
  timeoutMs: number,
  opts: { closedIsTransient?: boolean } = {},
): Promise<void> {
  const reached = (s: XenbusState) => s >= wanted && s <= XenbusState.Connected;
  const failed = (s: XenbusState) => s === XenbusState.Closing || (s >= XenbusState.Closed && !opts.closedIsTransient);
  const state = await waitForState(
    xs,
    `${loc.backendPath}/${FrontendKey.state}`,
    (s) => s !== undefined && (reached(s) || failed(s)),
    timeoutMs,
  );
  if (state === undefined || !reached(state)) throw await backendError(xs, loc, state);
}

/** The keys a frontend writes before Initialised (one transaction, retried on EAGAIN). */
export async function publishRings(
  xs: XsClient,
  loc: BackendLocation,
  queues: readonly BlkfrontQueue[],
  ringPageOrder: number,
  protocol: string,
  persistent: boolean,
): Promise<void> {
  const base = loc.frontendPath;
  await xs.transaction(async (tx: XsOps) => {
    // As Linux: a one-page ring is `ring-ref`; a multi-page ring is ring-page-order + ring-ref%u.
    if (ringPageOrder > 0) await tx.write(`${base}/${FrontendKey.ringPageOrder}`, String(ringPageOrder));
    if (queues.length > 1) await tx.write(`${base}/${FrontendKey.numQueues}`, String(queues.length));
    for (const q of queues) {
      const dir = queues.length > 1 ? `${base}/${queueDir(q.index)}` : base;
      if (ringPageOrder === 0) await tx.write(`${dir}/${FrontendKey.ringRef}`, String(q.ringRefs[0]));
      else for (let i = 0; i < q.ringRefs.length; i++) await tx.write(`${dir}/${ringRefKey(i)}`, String(q.ringRefs[i]));
      await tx.write(`${dir}/${FrontendKey.eventChannel}`, String(q.port));
    }
    await tx.write(`${base}/${FrontendKey.protocol}`, protocol);
    await tx.write(`${base}/${FrontendKey.persistent}`, persistent ? '1' : '0');
  });
}

/** Remove what publishRings wrote (so a later connect starts clean). */
export async function unpublishRings(xs: XsClient, loc: BackendLocation, queues: number): Promise<void> {
  const base = loc.frontendPath;
  const keys = [FrontendKey.ringRef, FrontendKey.ringPageOrder, FrontendKey.eventChannel, FrontendKey.numQueues];
  for (const key of keys) await xs.rm(`${base}/${key}`).catch(() => undefined);
  for (let i = 0; i < 16; i++) await xs.rm(`${base}/${ringRefKey(i)}`).catch(() => undefined);
  if (queues > 1) for (let q = 0; q < queues; q++) await xs.rm(`${base}/${queueDir(q)}`).catch(() => undefined);
}

/**
 * Bring the device to a fresh start before connecting. A frontend left Connected (or
 * Initialised, Closing) by an earlier process that died is closed first, so the backend drops
 * the old rings; then a Closed frontend goes back to Initialising, which a Linux-style backend
 * answers by returning to InitWait (blkback's "prepare for reconnect").
 */
/** Returns true when this is a reconnect: the device had been used and is now restarted. */
export async function resetFrontend(xs: XsClient, loc: BackendLocation, timeoutMs: number): Promise<boolean> {
  const mine = await readXenbusState(xs, `${loc.frontendPath}/${FrontendKey.state}`);
  if (mine === undefined || mine === XenbusState.Initialising || mine === XenbusState.Unknown) return false;
  if (mine !== XenbusState.Closed) await closeHandshake(xs, loc, timeoutMs);
  await setFrontendState(xs, loc, XenbusState.Initialising);
  return true;
}

export async function setFrontendState(xs: XsClient, loc: BackendLocation, state: XenbusState): Promise<void> {
  await switchState(xs, `${loc.frontendPath}/${FrontendKey.state}`, state);
}

export async function backendState(xs: XsClient, loc: BackendLocation): Promise<XenbusState | undefined> {
  return readXenbusState(xs, `${loc.backendPath}/${FrontendKey.state}`);
}

/**
 * The closing half: Closing, wait for the backend to follow, Closed, wait for the backend to
 * finish (Closed or gone). Returns the backend's last state. Never throws for a backend that
 * is slow or gone: a timeout just ends the wait.
 */
export async function closeHandshake(xs: XsClient, loc: BackendLocation, timeoutMs: number): Promise<XenbusState | undefined> {
  const statePath = `${loc.backendPath}/${FrontendKey.state}`;
  const wait = (pred: (s: XenbusState | undefined) => boolean) =>
    waitForState(xs, statePath, pred, timeoutMs).catch(() => undefined);
  await setFrontendState(xs, loc, XenbusState.Closing).catch(() => undefined);
  await wait(isGone);
  await setFrontendState(xs, loc, XenbusState.Closed).catch(() => undefined);
  await wait((s) => s === undefined || s === XenbusState.Closed);
  return backendState(xs, loc).catch(() => undefined);
}

export { isGone as backendIsGone };
