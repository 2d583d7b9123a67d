/** blkback: the blkif backend. A host process creates one Blkback over its xenstore client. */
export { Blkback } from './backend.js';
export {
  VbdDevice,
  defaultBackendLimits,
  type BackendLimits,
  type BlkbackDisk,
  type DeviceDeps,
  type DeviceStats,
  type DiskHost,
} from './device.js';
export { parseBackendConfig, imageSpec, type BackendConfig } from './backend-config.js';
export { parseFrontendConfig, type FrontendConfig, type QueueConfig } from './frontend-config.js';
export { BackendKey, FeatureKey, FrontendKey, VBD_BACKEND_ROOT } from './keys.js';
export { RingCounters, snapshotRing, snapshotVbd, type RingStats } from './stats.js';
export { TRANSITIONS, transition, BackendAction, BackendEvent } from './transitions.js';
export { checkOp, checkRange, checkSegments, Verdict, verdictStatus, type VbdCaps } from './validate.js';
