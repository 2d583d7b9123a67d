/**
 * The backend process's parts, wired together: the emulated hypervisor (dom0's grant mapper and
 * event channels), a native AIO context, tapdisk (with its control-plane socket) and blkback
 * over a xenstore connection. startBackend() brings them up in that order; stop() takes them
 * down in reverse: every device Closed and its rings unmapped before the images close.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { Blkback, defaultBackendLimits, type BackendLimits, type DiskHost } from '../blkback/index.js';
import { openHypervisor } from '../hypervisor/index.js';
import { native } from '../native/index.js';
import { registryDir, Tapdisk } from '../tapdisk/index.js';
import { openXenstore } from '../xenstore-sim/client/index.js';
import type { XsClient } from '../xenstore-sim/client/api.js';

export interface BackendOptions {
  rundir: string;
  xenstoredSocket: string;
  controlSocket: string;
  limits?: Partial<BackendLimits>;
  log: (line: string) => void;
  /** AIO submission depth of the process (shared by every VBD). */
  aioDepthMax?: number;
}

export interface BackendHost {
  readonly blkback: Blkback;
  readonly tapdisk: Tapdisk;
  stop(): Promise<void>;
}

export async function startBackend(o: BackendOptions): Promise<BackendHost> {
  // xenstored first: when it is not there, fail before creating anything under the rundir.
  const xs: XsClient = await openXenstore({ socketPath: o.xenstoredSocket });
  const hv = openHypervisor(o.rundir);
  const grants = hv.openGrantMapper(0);
  const evtchn = hv.openEventChannels(0);
  const depthMax = o.aioDepthMax ?? 512;
  const aio = native.aio.create({ depthMax, iovecsMax: depthMax * 64 });
  const tapdisk = new Tapdisk({ aio, registryDir: registryDir(o.rundir) });
  try {
    mkdirSync(dirname(o.controlSocket), { recursive: true });
    // The registry is the run directory's, wherever the control socket is, so live operations
    // find every process serving a chain.
    await tapdisk.listen(o.controlSocket, { registryDir: registryDir(o.rundir) });
  } catch (error) {
    await tapdisk.close();
    await aio.close();
    evtchn.closeAll();
    grants.close();
    hv.close();
    await xs.close();
    throw error;
  }
  const disks: DiskHost = {
    open: (spec, opts) => tapdisk.open(spec, opts),
    close: (disk) => tapdisk.destroy(disk.minor),
    registerRegion: (buffer) => tapdisk.registerRegion(buffer),
    unregisterRegion: (region) => tapdisk.unregisterRegion(region),
  };
  const blkback = new Blkback({
    xs,
    grants,
    evtchn,
    disks,
    limits: { ...defaultBackendLimits, ...o.limits },
    log: o.log,
  });
  await blkback.start();
  let stopping: Promise<void> | undefined;
  const client = xs;
  return {
    blkback,
    tapdisk,
    stop() {
      stopping ??= (async () => {
        await blkback.stop();
        await tapdisk.close();
        await client.close();
        await aio.close();
        evtchn.closeAll();
        grants.close();
        hv.close();
      })();
      return stopping;
    },
  };
}
