/**
 * Xenstore key names and wire constants of the blkif xenbus protocol (xen/io/blkif.h), named
 * once so that no other file spells a key as a string literal. docs/blkback.md lists who writes
 * each key and when.
 */

/** Where a dom0 backend's vbd devices live: <root>/<frontend domid>/<devid>. */
export const VBD_BACKEND_ROOT = '/local/domain/0/backend/vbd';

/** Keys the toolstack writes in the backend directory (libxl's layout). */
export const BackendKey = {
  frontend: 'frontend',
  frontendId: 'frontend-id',
  online: 'online',
  removable: 'removable',
  bootable: 'bootable',
  state: 'state',
  dev: 'dev',
  type: 'type',
  mode: 'mode',
  deviceType: 'device-type',
  params: 'params',
  discardEnable: 'discard-enable',
  physicalDevice: 'physical-device',
  script: 'script',
} as const;

/** Keys the backend publishes (at InitWait, then at Connected). */
export const FeatureKey = {
  maxIndirectSegments: 'feature-max-indirect-segments',
  multiQueueMaxQueues: 'multi-queue-max-queues',
  maxRingPageOrder: 'max-ring-page-order',
  flushCache: 'feature-flush-cache',
  barrier: 'feature-barrier',
  discard: 'feature-discard',
  discardGranularity: 'discard-granularity',
  discardAlignment: 'discard-alignment',
  discardSecure: 'discard-secure',
  persistent: 'feature-persistent',
  sectors: 'sectors',
  sectorSize: 'sector-size',
  physicalSectorSize: 'physical-sector-size',
  info: 'info',
  error: 'error',
  /** Ours, not blkif.h: the tapdisk minor serving this device, for `splitblk tap stats`. */
  tapdiskMinor: 'tapdisk-minor',
} as const;

/** Keys the frontend writes in its device directory. */
export const FrontendKey = {
  state: 'state',
  ringRef: 'ring-ref',
  ringPageOrder: 'ring-page-order',
  eventChannel: 'event-channel',
  protocol: 'protocol',
  persistent: 'feature-persistent',
  numQueues: 'multi-queue-num-queues',
  backend: 'backend',
  backendId: 'backend-id',
  virtualDevice: 'virtual-device',
} as const;

/** ring-ref%u: the grant of page `i` of a multi-page ring. */
export const ringRefKey = (i: number): string => `ring-ref${i}`;
/** queue-%u: the directory holding one queue's ring-ref* and event-channel. */
export const queueDir = (i: number): string => `queue-${i}`;

/** XEN_IO_PROTO_ABI_* values of the frontend's `protocol` key. */
export const PROTOCOL_X86_32 = 'x86_32-abi';
export const PROTOCOL_X86_64 = 'x86_64-abi';
export type BlkifProtocolName = typeof PROTOCOL_X86_32 | typeof PROTOCOL_X86_64;

/** Largest ring-page-order we accept (16 pages). */
export const RING_PAGE_ORDER_MAX = 4;
