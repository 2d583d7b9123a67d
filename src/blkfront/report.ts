/**
 * The frontend's report as a plain JSON-ready object (kebab-case keys, raw counts), shared by
 * the CLI verb and anything that runs the simulator in-process.
 */
import type { Blkfront, CloseReport, Negotiated } from './blkfront.js';
import type { VerifyReport } from './verify.js';
import type { WorkloadResult } from './workload.js';

const round = (n: number, digits = 3) => Math.round(n * 10 ** digits) / 10 ** digits;

export interface FrontendReport {
  features: {
    protocol: string;
    'ring-page-order': number;
    'ring-slots': number;
    queues: number;
    'indirect-segments': number;
    persistent: boolean;
    flush: string;
    discard: boolean;
    'discard-secure': boolean;
    iodepth: number;
    'max-io-bytes': number;
  };
  disk: { sectors: number; 'sector-size': number; 'physical-sector-size': number; info: number };
  rw: string;
  bs: number;
  iodepth: number;
  seed: number;
  ios: number;
  reads: number;
  writes: number;
  'bytes-read': number;
  'bytes-written': number;
  seconds: number;
  iops: number;
  'mb-per-s': number;
  latency: { 'p50-us': number; 'p99-us': number; 'p999-us': number; 'mean-us': number; 'max-us': number };
  errors: number;
  'first-error': string | null;
  interrupted: boolean;
  verify: {
    ok: boolean;
    'sectors-checked': number;
    'sectors-with-header': number;
    'error-count': number;
    errors: Array<{ kind: string; sector: number; expected: number; found: number; 'found-sector'?: number }>;
  } | null;
  ring: { requests: number; responses: number; 'notifications-sent': number; events: number; 'bogus-responses': number };
  close: { 'backend-state': number | null; 'leaked-grants': number } | null;
}

export function frontendReport(front: Blkfront, result: WorkloadResult, close: CloseReport | undefined): FrontendReport {
  const d = front.disk;
  const ring = front.io.stats();
  return {
    features: featuresReport(front.negotiated),
    disk: {
      sectors: d.sectors,
      'sector-size': d.sectorSize,
      'physical-sector-size': d.physicalSectorSize,
      info: d.info,
    },
    rw: result.rw,
    bs: result.bs,
    iodepth: result.iodepth,
    seed: result.seed,
    ios: result.ios,
    reads: result.reads,
    writes: result.writes,
    'bytes-read': result.bytesRead,
    'bytes-written': result.bytesWritten,
    seconds: round(result.seconds, 6),
    iops: round(result.iops, 1),
    'mb-per-s': round(result.mbPerS, 3),
    latency: {
      'p50-us': result.latency.p50Us,
      'p99-us': result.latency.p99Us,
      'p999-us': result.latency.p999Us,
      'mean-us': result.latency.meanUs,
      'max-us': result.latency.maxUs,
    },
    errors: result.errors,
    'first-error': result.firstError ?? null,
    interrupted: result.interrupted,
    verify: result.verify === undefined ? null : verifyReport(result.verify),
    ring: {
      requests: ring.requests,
      responses: ring.responses,
      'notifications-sent': ring.notificationsSent,
      events: ring.events,
      'bogus-responses': ring.bogusResponses,
    },
    close: close === undefined ? null : { 'backend-state': close.backendState ?? null, 'leaked-grants': close.leakedGrants },
  };
}

function featuresReport(n: Negotiated): FrontendReport['features'] {
  return {
    protocol: n.protocol,
    'ring-page-order': n.ringPageOrder,
    'ring-slots': n.ringSlots,
    queues: n.queues,
    'indirect-segments': n.indirectSegments,
    persistent: n.persistent,
    flush: n.flush,
    discard: n.discard,
    'discard-secure': n.discardSecure,
    iodepth: n.iodepth,
    'max-io-bytes': n.maxIoBytes,
  };
}

function verifyReport(v: VerifyReport): NonNullable<FrontendReport['verify']> {
  return {
    ok: v.ok,
    'sectors-checked': v.sectorsChecked,
    'sectors-with-header': v.sectorsWithHeader,
    'error-count': v.errorCount,
    errors: v.errors.map((e) => ({
      kind: e.kind,
      sector: e.sector,
      expected: e.expected,
      found: e.found,
      ...(e.foundSector === undefined ? {} : { 'found-sector': e.foundSector }),
    })),
  };
}
