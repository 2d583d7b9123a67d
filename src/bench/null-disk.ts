/**
 * Attach a tapdisk `null:SIZE` disk (reads return zeros, writes are discarded) for the ring
 * benchmarks. xl's DISKSPEC has no format for it, so attachDisk cannot express it; this writes
 * the same libxl node set as src/toolstack/vbd.ts (same keys, same permissions, one
 * transaction) with `params = null:<bytes>` (`null:<bytes>?read-zeroes=off` for a disk whose
 * reads leave guest memory untouched), then waits for the backend's InitWait.
 */
import type { XsClient, XsOps, XsPerm } from '../xenstore-sim/client/api.js';
import { XenbusState, parseXenbusState } from '../xenstore-sim/xenbus/state.js';
import { TOOLSTACK_DOMID, vbdBackendPath, vbdFrontendPath } from '../toolstack/paths.js';
import { vdevToDevid } from '../toolstack/vdev.js';

const ATTACH_TIMEOUT_MS = 10_000;
const POLL_MS = 20;

async function writeDir(tx: XsOps, dir: string, perms: XsPerm[], nodes: Record<string, string>): Promise<void> {
  await tx.mkdir(dir);
  await tx.setPerms(dir, perms);
  for (const [key, value] of Object.entries(nodes)) await tx.write(`${dir}/${key}`, value);
}

export interface NullDiskOptions {
  /** False: reads complete without writing the guest's pages (tapdisk `?read-zeroes=off`). */
  readZeroes?: boolean;
}

export async function attachNullDisk(xs: XsClient, domid: number, vdev: string, bytes: number, opts: NullDiskOptions = {}): Promise<number> {
  const devid = vdevToDevid(vdev);
  if (devid === undefined) throw new Error(`invalid vdev '${vdev}'`);
  const be = vbdBackendPath(domid, devid);
  const fe = vbdFrontendPath(domid, devid);
  await xs.transaction(async (tx) => {
    await writeDir(tx, be, [{ domid: TOOLSTACK_DOMID, perm: 'n' }, { domid, perm: 'r' }], {
      frontend: fe,
      'frontend-id': String(domid),
      online: '1',
      removable: '0',
      bootable: '1',
      state: String(XenbusState.Initialising),
      dev: vdev,
      type: 'vbd3',
      mode: 'w',
      'device-type': 'disk',
      params: `null:${bytes}${opts.readZeroes === false ? '?read-zeroes=off' : ''}`,
      'discard-enable': '0',
    });
    await writeDir(tx, fe, [{ domid, perm: 'n' }, { domid: TOOLSTACK_DOMID, perm: 'r' }], {
      backend: be,
      'backend-id': String(TOOLSTACK_DOMID),
      state: String(XenbusState.Initialising),
      'virtual-device': String(devid),
      'device-type': 'disk',
    });
  });
  const deadline = Date.now() + ATTACH_TIMEOUT_MS;
  for (;;) {
    const raw = await xs.readString(`${be}/state`);
    const state = raw === undefined ? undefined : parseXenbusState(raw);
    if (state !== undefined && state >= XenbusState.InitWait && state <= XenbusState.Connected) return devid;
    if (Date.now() > deadline) throw new Error(`the backend did not take up null disk ${vdev} of domain ${domid} (state ${raw ?? 'absent'})`);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}
