import type { XsClient, XsOps, XsPerm } from '../xenstore-sim/client/api.js';
import { XenbusState, parseXenbusState } from '../xenstore-sim/xenbus/state.js';
import { SplitblkError } from '../util/errors.js';
import type { DiskSpec } from './diskspec.js';
import { vdevToDevid } from './vdev.js';
import { TOOLSTACK_DOMID, domainPath, vbdBackendPath, vbdBackendRoot, vbdFrontendPath } from './paths.js';

/** How long attach waits for the backend to reach InitWait, and detach for Closed. */
export const ATTACH_TIMEOUT_MS = 10_000;
export const DETACH_TIMEOUT_MS = 10_000;

/** The tapdisk driver serving each DISKSPEC format (the `params` key is `driver:/path`). */
const DRIVER_OF_FORMAT = { raw: 'aio', vhd: 'vhd' } as const;

/**
 * The node set libxl writes for a block device (libxl__device_disk_add and
 * libxl__device_generic_add), with a tapdisk `driver:/path` in `params` as libxl does for
 * tapdisk-style backends. The backend directory belongs to dom0 and is readable by the guest;
 * the frontend directory belongs to the guest and is readable by dom0.
 */
function backendNodes(domid: number, spec: DiskSpec): Record<string, string> {
  return {
    frontend: vbdFrontendPath(domid, spec.devid),
    'frontend-id': String(domid),
    online: '1',
    removable: spec.devtype === 'cdrom' ? '1' : '0',
    bootable: '1',
    state: String(XenbusState.Initialising),
    dev: spec.vdev,
    type: 'vbd3',
    mode: spec.access === 'rw' ? 'w' : 'r',
    'device-type': spec.devtype,
    params: `${DRIVER_OF_FORMAT[spec.format]}:${spec.target}`,
    'discard-enable': spec.discard ? '1' : '0',
  };
}

function frontendNodes(domid: number, spec: DiskSpec): Record<string, string> {
  return {
    backend: vbdBackendPath(domid, spec.devid),
    'backend-id': String(TOOLSTACK_DOMID),
    state: String(XenbusState.Initialising),
    'virtual-device': String(spec.devid),
    'device-type': spec.devtype,
  };
}

async function writeDir(tx: XsOps, dir: string, perms: XsPerm[], nodes: Record<string, string>): Promise<void> {
  await tx.mkdir(dir);
  await tx.setPerms(dir, perms);
  for (const [key, value] of Object.entries(nodes)) await tx.write(`${dir}/${key}`, value);
}

async function exists(xs: XsOps, path: string): Promise<boolean> {
  return (await xs.readString(path)) !== undefined;
}

/**
 * Attach a disk: write both directories in one transaction, then wait for the backend to
 * answer (InitWait, or further). Returns the device id.
 */
export async function attachDisk(xs: XsClient, domid: number, spec: DiskSpec, timeoutMs = ATTACH_TIMEOUT_MS): Promise<number> {
  if (!(await exists(xs, domainPath(domid)))) {
    throw new SplitblkError('SPLITBLK_ERR_NO_DOMAIN', `domain ${domid} does not exist`, { domid });
  }
  const be = vbdBackendPath(domid, spec.devid);
  const fe = vbdFrontendPath(domid, spec.devid);
  await xs.transaction(async (tx) => {
    if ((await exists(tx, fe)) || (await exists(tx, be))) {
      throw new SplitblkError('SPLITBLK_ERR_EXISTS', `domain ${domid} already has a device ${spec.vdev}`, { domid, devid: spec.devid });
    }
    await writeDir(tx, be, [{ domid: TOOLSTACK_DOMID, perm: 'n' }, { domid, perm: 'r' }], backendNodes(domid, spec));
    await writeDir(tx, fe, [{ domid, perm: 'n' }, { domid: TOOLSTACK_DOMID, perm: 'r' }], frontendNodes(domid, spec));
  });
  const reached = await waitForBackendState(xs, `${be}/state`, (s) => s >= XenbusState.InitWait, timeoutMs);
  if (!reached) {
    throw new SplitblkError('SPLITBLK_ERR_TIMEOUT', `the backend did not answer within ${timeoutMs / 1000} s (is 'splitblk up' running?)`, {
      domid, devid: spec.devid,
    });
  }
  return spec.devid;
}

/**
 * Detach as libxl does: online=0 and Closing in the backend, wait for Closed, then remove both
 * directories. With `force`, remove them even when the backend does not close in time.
 */
export async function detachDisk(xs: XsClient, domid: number, vdev: string, opts: { force?: boolean; timeoutMs?: number } = {}): Promise<void> {
  const devid = vdevToDevid(vdev);
  if (devid === undefined) throw new SplitblkError('SPLITBLK_ERR_USAGE', `invalid vdev '${vdev}'`, { domid });
  const be = vbdBackendPath(domid, devid);
  const fe = vbdFrontendPath(domid, devid);
  if (!(await exists(xs, be))) {
    throw new SplitblkError('SPLITBLK_ERR_NO_DEVICE', `domain ${domid} has no device ${vdev}`, { domid, devid });
  }
  await xs.transaction(async (tx) => {
    await tx.write(`${be}/online`, '0');
    await tx.write(`${be}/state`, String(XenbusState.Closing));
  });
  const timeoutMs = opts.timeoutMs ?? DETACH_TIMEOUT_MS;
  const closed = await waitForBackendState(xs, `${be}/state`, (s) => s === XenbusState.Closed, opts.force ? Math.min(timeoutMs, 1000) : timeoutMs);
  if (!closed && !opts.force) {
    throw new SplitblkError('SPLITBLK_ERR_TIMEOUT', `device ${vdev} of domain ${domid} did not close within ${timeoutMs / 1000} s (use --force)`, { domid, devid });
  }
  await xs.rm(fe).catch(() => undefined);
  await xs.rm(be).catch(() => undefined);
}

/**
 * Wait until the state node satisfies `predicate`; false on timeout. A vanished node counts as
 * Closed (the backend removed its directory).
 */
async function waitForBackendState(xs: XsClient, path: string, predicate: (s: XenbusState) => boolean, timeoutMs: number): Promise<boolean> {
  const watch = await xs.watch(path);
  const timer = setTimeout(() => void watch.close(), timeoutMs);
  try {
    for await (const _event of watch) {
      const raw = await xs.readString(path);
      const state = raw === undefined ? XenbusState.Closed : parseXenbusState(raw);
      if (state !== undefined && predicate(state)) return true;
    }
    return false;
  } finally {
    clearTimeout(timer);
    await watch.close();
  }
}

export interface VbdListing {
  domid: number;
  devid: number;
  vdev: string;
  params: string;
  mode: string;
  backendState: string;
  frontendState: string;
}

const stateName = (raw: string | undefined): string => {
  if (raw === undefined) return 'absent';
  const state = parseXenbusState(raw);
  return state === undefined ? `invalid(${raw})` : XenbusState[state];
};

/** Every block device dom0 serves, with both ends' states. */
export async function listDisks(xs: XsClient): Promise<VbdListing[]> {
  const out: VbdListing[] = [];
  const root = vbdBackendRoot();
  const domids = await xs.directory(root).catch(() => [] as string[]);
  for (const d of domids) {
    for (const dev of await xs.directory(`${root}/${d}`).catch(() => [] as string[])) {
      const be = `${root}/${d}/${dev}`;
      const frontend = await xs.readString(`${be}/frontend`);
      out.push({
        domid: Number(d),
        devid: Number(dev),
        vdev: (await xs.readString(`${be}/dev`)) ?? '',
        params: (await xs.readString(`${be}/params`)) ?? '',
        mode: (await xs.readString(`${be}/mode`)) ?? '',
        backendState: stateName(await xs.readString(`${be}/state`)),
        frontendState: frontend === undefined ? 'absent' : stateName(await xs.readString(`${frontend}/state`)),
      });
    }
  }
  return out.sort((a, b) => a.domid - b.domid || a.devid - b.devid);
}
