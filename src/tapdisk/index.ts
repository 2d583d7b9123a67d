/**
 * The tapdisk core's public surface. A backend process (blkback's host) does:
 *
 *   const tapdisk = new Tapdisk({ aio, registryDir: registryDir(rundir) });
 *   await tapdisk.listen(`${rundir}/tapdisk/${name}.sock`);      // control plane, optional
 *   const region = tapdisk.registerRegion(mapping.buffer);         // granted pages
 *   const vbd = await tapdisk.open('aio:/srv/disk.img', { domid, device, readonly });
 *   vbd.info;                                                      // sectors, sector size, discard
 *   vbd.queue(req);                     // a pooled TdRequest; req.done runs later, exactly once
 *   if (!vbd.accepting) { ...stop taking requests off the rings...; vbd.onResume(consumeRings) }
 *   await tapdisk.destroy(vbd.minor);
 *
 * Vbd: minor, domid, device, spec, info, state, accepting, onResume(cb), queue(req), pause(),
 * unpause(spec?), close(), stats(), attachStats(source). Control-plane clients use TapdiskClient.
 */
export * from './api.js';
export { Tapdisk, type TapdiskDeps, type VbdOpenOptions } from './tapdisk.js';
export { Vbd, defaultVbdLimits, type VbdLimits, type VbdState, type VbdConfig } from './vbd.js';
export type { VbdStats, OpStats, CounterSet, RingCounterReport } from './stats.js';
export { systemClock, type Clock } from './clock.js';
export { parseSpec } from './spec.js';
export { driverTable, loadDriver, openImage } from './registry.js';
export * from './errors.js';
export { TapdiskClient, type VbdDescription } from './control/client.js';
export {
  registryDir, readDatapaths, findChainUsers, type DatapathEntry,
} from './control/datapaths.js';
