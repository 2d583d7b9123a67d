import { err, ok, SplitblkError, type Result } from '../../util/errors.js';
import { ERR_PROTOCOL } from '../errors.js';
import type { CounterSet, OpStats, VbdStats } from '../stats.js';
import { splitblk } from './generated/tapdisk.js';

/**
 * The control plane's messages as plain TypeScript values, and their protobuf encoding (the
 * generated code from proto/tapdisk.proto). Nothing else touches the generated classes.
 */
const pb = splitblk.tapdisk;

/** A VBD as the control plane describes it. */
export interface VbdDescription {
  minor: number;
  domid: number | null;
  device: number | null;
  state: string;
  spec: string;
  chain: string[];
  sectors: number;
  sectorSize: number;
  readonly: boolean;
  pid: number;
}

export interface VbdStatsReport extends VbdStats {
  minor: number;
}

/** What a finished live operation reports (every field optional: each kind sets its own). */
export interface JobOutcome {
  pauseMs?: number;
  snapshotPauseMs?: number;
  snapshot?: string;
  leaf?: string;
  node?: string;
  parent?: string;
  removable?: string[];
  /** Minors of the VBDs paused and reopened onto the new chain. */
  refreshed?: number[];
}

/** A job as the control plane describes it. */
export interface JobDescription {
  id: string;
  kind: string;
  /** running | done | failed | cancelled */
  status: string;
  current: number;
  total: number;
  error: { code: string; message: string } | null;
  result: JobOutcome | null;
}

export type ControlOp =
  | { kind: 'list' }
  | { kind: 'create'; spec: string; domid: number | null; device: number | null; readonly: boolean; direct: boolean }
  | { kind: 'close' | 'destroy' | 'pause'; minor: number }
  | { kind: 'unpause'; minor: number; spec: string | null }
  | { kind: 'stats'; minor: number | null }
  | { kind: 'snapshot'; minor: number; newLeaf: string }
  | { kind: 'coalesce'; minor: number | null; node: string | null }
  | { kind: 'job-list' }
  | { kind: 'job-status' | 'job-cancel'; id: string };

export type ControlResult =
  | { kind: 'ok' }
  | { kind: 'list'; vbds: VbdDescription[] }
  | { kind: 'vbd'; vbd: VbdDescription }
  | { kind: 'stats'; stats: VbdStatsReport[] }
  | { kind: 'job'; job: JobDescription }
  | { kind: 'jobs'; jobs: JobDescription[] }
  | { kind: 'error'; code: string; message: string };

/** uint64 fields decode to Long objects when the long package is present. */
function num(v: unknown): number {
  if (typeof v === 'number') return v;
  if (v !== null && typeof v === 'object' && 'toNumber' in v) return (v as { toNumber(): number }).toNumber();
  return Number(v ?? 0);
}

const orNull = (n: number): number | null => (n < 0 ? null : n);

export function encodeRequest(cookie: number, op: ControlOp): Uint8Array {
  const m: splitblk.tapdisk.IRequest = { cookie };
  switch (op.kind) {
    case 'list': m.list = {}; break;
    case 'create':
      m.create = { spec: op.spec, domid: op.domid ?? -1, device: op.device ?? -1, readonly: op.readonly, direct: op.direct };
      break;
    case 'close': m.close = { minor: op.minor }; break;
    case 'destroy': m.destroy = { minor: op.minor }; break;
    case 'pause': m.pause = { minor: op.minor }; break;
    case 'unpause': m.unpause = { minor: op.minor, spec: op.spec ?? '' }; break;
    case 'stats': m.stats = op.minor === null ? { all: true } : { minor: op.minor }; break;
    case 'snapshot': m.snapshot = { minor: op.minor, newLeaf: op.newLeaf }; break;
    case 'coalesce': m.coalesce = { minor: op.minor ?? -1, node: op.node ?? '' }; break;
    case 'job-list': m.jobList = {}; break;
    case 'job-status': m.jobStatus = { id: op.id }; break;
    case 'job-cancel': m.jobCancel = { id: op.id }; break;
  }
  return pb.Request.encode(m).finish();
}

function decodeFailure(what: string, error: unknown): SplitblkError {
  return new SplitblkError(ERR_PROTOCOL, `undecodable control ${what}: ${(error as Error).message}`, {}, { cause: error });
}

export function decodeRequest(bytes: Uint8Array): Result<{ cookie: number; op: ControlOp }> {
  let m: splitblk.tapdisk.Request;
  try {
    m = pb.Request.decode(bytes);
  } catch (error) {
    return err(decodeFailure('request', error));
  }
  const cookie = m.cookie;
  switch (m.op) {
    case 'list': return ok({ cookie, op: { kind: 'list' } });
    case 'create': {
      const c = m.create!;
      return ok({ cookie, op: {
        kind: 'create', spec: c.spec ?? '', domid: orNull(c.domid ?? -1), device: orNull(num(c.device ?? -1)),
        readonly: c.readonly ?? false, direct: c.direct ?? false,
      } });
    }
    case 'close': return ok({ cookie, op: { kind: 'close', minor: m.close!.minor ?? 0 } });
    case 'destroy': return ok({ cookie, op: { kind: 'destroy', minor: m.destroy!.minor ?? 0 } });
    case 'pause': return ok({ cookie, op: { kind: 'pause', minor: m.pause!.minor ?? 0 } });
    case 'unpause': return ok({ cookie, op: { kind: 'unpause', minor: m.unpause!.minor ?? 0, spec: m.unpause!.spec || null } });
    case 'stats': return ok({ cookie, op: { kind: 'stats', minor: m.stats!.all ? null : m.stats!.minor ?? 0 } });
    case 'snapshot': return ok({ cookie, op: { kind: 'snapshot', minor: m.snapshot!.minor ?? 0, newLeaf: m.snapshot!.newLeaf ?? '' } });
    case 'coalesce': {
      const c = m.coalesce!;
      return ok({ cookie, op: { kind: 'coalesce', minor: orNull(c.minor ?? -1), node: c.node || null } });
    }
    case 'jobList': return ok({ cookie, op: { kind: 'job-list' } });
    case 'jobStatus': return ok({ cookie, op: { kind: 'job-status', id: m.jobStatus!.id ?? '' } });
    case 'jobCancel': return ok({ cookie, op: { kind: 'job-cancel', id: m.jobCancel!.id ?? '' } });
    default:
      return err(new SplitblkError(ERR_PROTOCOL, `control request ${cookie} has no operation`, { cookie }));
  }
}

function vbdToWire(v: VbdDescription): splitblk.tapdisk.IVbd {
  return {
    minor: v.minor, domid: v.domid ?? -1, device: v.device ?? -1, state: v.state, spec: v.spec, chain: v.chain,
    sectors: v.sectors, sectorSize: v.sectorSize, readonly: v.readonly, pid: v.pid,
  };
}

function vbdFromWire(v: splitblk.tapdisk.IVbd): VbdDescription {
  return {
    minor: v.minor ?? 0, domid: orNull(v.domid ?? -1), device: orNull(num(v.device ?? -1)), state: v.state ?? '',
    spec: v.spec ?? '', chain: v.chain ?? [], sectors: num(v.sectors), sectorSize: v.sectorSize ?? 0,
    readonly: v.readonly ?? false, pid: v.pid ?? 0,
  };
}

function opFromWire(o: splitblk.tapdisk.IOpStats | null | undefined): OpStats {
  return { requests: num(o?.requests), sectors: num(o?.sectors), errors: num(o?.errors) };
}

function countersToWire(set: CounterSet): splitblk.tapdisk.ICounterSet {
  return {
    counters: Object.entries(set).map(([name, v]) => (Array.isArray(v)
      ? { name, values: v, histogram: true }
      : { name, value: v })),
  };
}

function countersFromWire(set: splitblk.tapdisk.ICounterSet | null | undefined): CounterSet {
  const out: CounterSet = {};
  for (const c of set?.counters ?? []) out[c.name ?? ''] = c.histogram ? (c.values ?? []).map(num) : num(c.value);
  return out;
}

function statsToWire(s: VbdStatsReport): splitblk.tapdisk.IVbdStats {
  const { rings, ...rest } = s;
  return rings ? { ...rest, ringTotal: countersToWire(rings.total), rings: rings.rings.map(countersToWire) } : rest;
}

function statsFromWire(s: splitblk.tapdisk.IVbdStats): VbdStatsReport {
  const rings = s.ringTotal ? { rings: { total: countersFromWire(s.ringTotal), rings: (s.rings ?? []).map(countersFromWire) } } : {};
  return {
    ...rings,
    minor: s.minor ?? 0, read: opFromWire(s.read), write: opFromWire(s.write), flush: opFromWire(s.flush),
    discard: opFromWire(s.discard), merges: num(s.merges), timeouts: num(s.timeouts), inFlight: s.inFlight ?? 0,
    pending: s.pending ?? 0, bytesCopied: num(s.bytesCopied), latencyUs: (s.latencyUs ?? []).map(num),
  };
}

function jobToWire(j: JobDescription): splitblk.tapdisk.IJob {
  const r = j.result;
  return {
    id: j.id, kind: j.kind, status: j.status, current: j.current, total: j.total, error: j.error,
    result: r === null ? null : {
      pauseMs: r.pauseMs ?? 0, snapshotPauseMs: r.snapshotPauseMs ?? 0, snapshot: r.snapshot ?? '', leaf: r.leaf ?? '',
      node: r.node ?? '', parent: r.parent ?? '', removable: r.removable ?? [], refreshed: r.refreshed ?? [],
    },
  };
}

/** Empty strings and zero pauses on the wire are absent fields here. */
function outcomeFromWire(r: splitblk.tapdisk.IJobResult): JobOutcome {
  const out: JobOutcome = {};
  if (r.pauseMs) out.pauseMs = r.pauseMs;
  if (r.snapshotPauseMs) out.snapshotPauseMs = r.snapshotPauseMs;
  if (r.snapshot) out.snapshot = r.snapshot;
  if (r.leaf) out.leaf = r.leaf;
  if (r.node) out.node = r.node;
  if (r.parent) out.parent = r.parent;
  if (r.removable?.length) out.removable = r.removable;
  if (r.refreshed?.length) out.refreshed = r.refreshed;
  return out;
}

function jobFromWire(j: splitblk.tapdisk.IJob): JobDescription {
  return {
    id: j.id ?? '', kind: j.kind ?? '', status: j.status ?? '', current: num(j.current), total: num(j.total),
    error: j.error ? { code: j.error.code ?? '', message: j.error.message ?? '' } : null,
    result: j.result ? outcomeFromWire(j.result) : null,
  };
}

export function encodeResponse(cookie: number, result: ControlResult): Uint8Array {
  const m: splitblk.tapdisk.IResponse = { cookie };
  switch (result.kind) {
    case 'ok': m.ok = {}; break;
    case 'list': m.list = { vbds: result.vbds.map(vbdToWire) }; break;
    case 'vbd': m.vbd = vbdToWire(result.vbd); break;
    case 'stats': m.stats = { stats: result.stats.map(statsToWire) }; break;
    case 'job': m.job = jobToWire(result.job); break;
    case 'jobs': m.jobs = { jobs: result.jobs.map(jobToWire) }; break;
    case 'error': m.error = { code: result.code, message: result.message }; break;
  }
  return pb.Response.encode(m).finish();
}

export function decodeResponse(bytes: Uint8Array): Result<{ cookie: number; result: ControlResult }> {
  let m: splitblk.tapdisk.Response;
  try {
    m = pb.Response.decode(bytes);
  } catch (error) {
    return err(decodeFailure('response', error));
  }
  const cookie = m.cookie;
  if (m.error) return ok({ cookie, result: { kind: 'error', code: m.error.code ?? '', message: m.error.message ?? '' } });
  switch (m.result) {
    case 'ok': return ok({ cookie, result: { kind: 'ok' } });
    case 'list': return ok({ cookie, result: { kind: 'list', vbds: (m.list!.vbds ?? []).map(vbdFromWire) } });
    case 'vbd': return ok({ cookie, result: { kind: 'vbd', vbd: vbdFromWire(m.vbd!) } });
    case 'stats': return ok({ cookie, result: { kind: 'stats', stats: (m.stats!.stats ?? []).map(statsFromWire) } });
    case 'job': return ok({ cookie, result: { kind: 'job', job: jobFromWire(m.job!) } });
    case 'jobs': return ok({ cookie, result: { kind: 'jobs', jobs: (m.jobs!.jobs ?? []).map(jobFromWire) } });
    default:
      return err(new SplitblkError(ERR_PROTOCOL, `control response ${cookie} has no result`, { cookie }));
  }
}
