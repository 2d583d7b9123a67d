/**
 * What the backend advertises, parsed at the xenstore boundary into typed records, and the
 * negotiation of what this frontend will use (pure: no I/O). Follows Linux xen-blkfront:
 * talk_to_blkback() reads max-ring-page-order and multi-queue-max-queues at InitWait;
 * blkfront_gather_backend_features() reads the rest at Connected.
 */
import { BLKIF_INDIRECT_SEGMENTS_MAX, BLKIF_MAX_SEGMENTS_PER_REQUEST, BLKIF_SECTOR_BYTES } from '../blkback/protocol/ops.js';
import { FeatureKey } from '../blkback/keys.js';
import { RING_ORDER_MAX } from '../ring/sring.js';
import { err, ok, SplitblkError, type Result } from '../util/errors.js';

/** The most queues this frontend opens (Linux caps at the vCPU count; we have no vCPUs). */
export const QUEUES_MAX = 16;

export const BLKFRONT_CONFIG_ERROR = 'SPLITBLK_ERR_BLKFRONT_CONFIG';

/** Reads a key of the backend directory; undefined when absent. */
export type BackendKeyReader = (key: string) => Promise<string | undefined>;

/** Strict unsigned decimal, or undefined. */
export function parseUnsigned(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const t = text.trim();
  if (!/^\d{1,15}$/.test(t)) return undefined;
  return Number(t);
}

/** A "0"/"1" feature flag (any non-zero number is true; absent or malformed: false). */
export function parseFeatureFlag(text: string | undefined): boolean {
  const n = parseUnsigned(text);
  return n !== undefined && n !== 0;
}

/** What the backend publishes at InitWait. */
export interface BackendTransportFeatures {
  ringPageOrderMax: number;
  queuesMax: number;
}

/** What the backend publishes at Connected. */
export interface BackendDiskFeatures {
  /** Disk size in 512-byte sectors. */
  sectors: number;
  sectorSize: number;
  physicalSectorSize: number;
  /** VDISK_* bits. */
  info: number;
  flushCache: boolean;
  barrier: boolean;
  discard: boolean;
  discardGranularity: number;
  discardAlignment: number;
  discardSecure: boolean;
  persistent: boolean;
  /** feature-max-indirect-segments, 0 when indirect descriptors are not offered. */
  maxIndirectSegments: number;
}

export async function readTransportFeatures(read: BackendKeyReader): Promise<BackendTransportFeatures> {
  const order = parseUnsigned(await read(FeatureKey.maxRingPageOrder)) ?? 0;
  const queues = parseUnsigned(await read(FeatureKey.multiQueueMaxQueues)) ?? 1;
  return { ringPageOrderMax: Math.min(order, RING_ORDER_MAX), queuesMax: Math.max(1, Math.min(queues, QUEUES_MAX)) };
}

export async function readDiskFeatures(read: BackendKeyReader): Promise<Result<BackendDiskFeatures>> {
  const sectorsText = await read(FeatureKey.sectors);
  const sectors = parseUnsigned(sectorsText);
  if (sectors === undefined) {
    return err(new SplitblkError(BLKFRONT_CONFIG_ERROR, `backend has ${sectorsText === undefined ? 'no' : 'a malformed'} sectors key`));
  }
  const sectorSize = parseUnsigned(await read(FeatureKey.sectorSize)) ?? BLKIF_SECTOR_BYTES;
  if (sectorSize < BLKIF_SECTOR_BYTES || sectorSize % BLKIF_SECTOR_BYTES !== 0) {
    return err(new SplitblkError(BLKFRONT_CONFIG_ERROR, `backend sector-size ${sectorSize} is not a multiple of 512`));
  }
  const discard = parseFeatureFlag(await read(FeatureKey.discard));
  const indirect = parseUnsigned(await read(FeatureKey.maxIndirectSegments)) ?? 0;
  return ok({
    sectors,
    sectorSize,
    physicalSectorSize: parseUnsigned(await read(FeatureKey.physicalSectorSize)) ?? sectorSize,
    info: parseUnsigned(await read(FeatureKey.info)) ?? 0,
    flushCache: parseFeatureFlag(await read(FeatureKey.flushCache)),
    barrier: parseFeatureFlag(await read(FeatureKey.barrier)),
    discard,
    discardGranularity: discard ? parseUnsigned(await read(FeatureKey.discardGranularity)) ?? 0 : 0,
    discardAlignment: discard ? parseUnsigned(await read(FeatureKey.discardAlignment)) ?? 0 : 0,
    discardSecure: discard && parseFeatureFlag(await read(FeatureKey.discardSecure)),
    persistent: parseFeatureFlag(await read(FeatureKey.persistent)),
    maxIndirectSegments: Math.min(indirect, BLKIF_INDIRECT_SEGMENTS_MAX),
  });
}

/** What the user asks for; each is an upper bound on what the backend offers. */
export interface NegotiateOptions {
  /** Largest ring-page-order to use (default: the backend's maximum). */
  ringOrder?: number;
  /** Most queues to open (default: the backend's maximum, capped at QUEUES_MAX). */
  queues?: number;
  /** Most indirect segments per request (default: the backend's maximum; 0 turns them off). */
  indirectSegments?: number;
  /** Offer persistent grants (default true). */
  persistent?: boolean;
}

export interface TransportChoice {
  ringPageOrder: number;
  queues: number;
}

export function chooseTransport(backend: BackendTransportFeatures, opts: NegotiateOptions): TransportChoice {
  return {
    ringPageOrder: Math.min(backend.ringPageOrderMax, opts.ringOrder ?? RING_ORDER_MAX),
    queues: Math.max(1, Math.min(backend.queuesMax, opts.queues ?? QUEUES_MAX)),
  };
}

export interface DiskChoice {
  /** Segments one request may carry: 11 direct, or the negotiated indirect count. */
  segmentsMax: number;
  /** Whether requests above 11 segments go indirect. */
  indirect: boolean;
  persistent: boolean;
}

export function chooseDisk(backend: BackendDiskFeatures, opts: NegotiateOptions): DiskChoice {
  const wanted = opts.indirectSegments ?? BLKIF_INDIRECT_SEGMENTS_MAX;
  const indirectSegments = Math.min(backend.maxIndirectSegments, wanted);
  const indirect = indirectSegments > BLKIF_MAX_SEGMENTS_PER_REQUEST;
  return {
    segmentsMax: indirect ? indirectSegments : BLKIF_MAX_SEGMENTS_PER_REQUEST,
    indirect,
    persistent: (opts.persistent ?? true) && backend.persistent,
  };
}
