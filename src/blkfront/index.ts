/**
 * The blkfront simulator: a guest's block frontend over the emulated hypervisor and xenstore.
 *
 *   const guest = await openGuest(hypervisor, domid);
 *   const front = await Blkfront.connect(guest, { domid, devid, iodepth: 32, maxIoBytes: 65536 });
 *   await front.write(0, data); const back = await front.read(0, data.length / 512);
 *   const result = await runWorkload(front.io, { rw: 'randrw', bs: 4096, iodepth: 32, runtimeMs: 5000, verify: true });
 *   await front.close(); await guest.close();
 */
export { Blkfront, type BlkfrontDeps, type BlkfrontOptions, type Negotiated, type CloseReport } from './blkfront.js';
export { BlkfrontDataPath, BLKFRONT_IO_ERROR, type DataPathConfig, type DataPathDeps, type DataPathStats } from './device.js';
export { openGuest, type GuestHandles } from './guest.js';
export { IoSlot, type IoOp } from './slot.js';
export { LatencyHistogram } from './histogram.js';
export { runWorkload, validateWorkload, RW_MODES, type RwMode, type WorkloadOptions, type WorkloadResult, type LatencySummary } from './workload.js';
export { VerifyReport, stampSectors, checkSector, type VerifyError } from './verify.js';
export { frontendPathOf, BLKFRONT_XENBUS_ERROR } from './xenbus.js';
export { QUEUES_MAX, type NegotiateOptions, type BackendDiskFeatures } from './features.js';
export { frontendReport, type FrontendReport } from './report.js';
