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

export type ControlOp =
  | { kind: 'list' }
  | { kind: 'create'; spec: string; domid: number | null; device: number | null; readonly: boolean; direct: boolean }
  | { kind: 'close' | 'destroy' | 'pause'; minor: number }
  | { kind: 'unpause'; minor: number; spec: string | null }
  | { kind: 'stats'; minor: number | null };

export type ControlResult =
  | { kind: 'ok' }
  | { kind: 'list'; vbds: VbdDescription[] }
  | { kind: 'vbd'; vbd: VbdDescription }
  | { kind: 'stats'; stats: VbdStatsReport[] }
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

export function encodeResponse(cookie: number, result: ControlResult): Uint8Array {
  const m: splitblk.tapdisk.IResponse = { cookie };
  switch (result.kind) {
    case 'ok': m.ok = {}; break;
    case 'list': m.list = { vbds: result.vbds.map(vbdToWire) }; break;
    case 'vbd': m.vbd = vbdToWire(result.vbd); break;
    case 'stats': m.stats = { stats: result.stats.map(statsToWire) }; break;
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
    default:
      return err(new SplitblkError(ERR_PROTOCOL, `control response ${cookie} has no result`, { cookie }));
  }
}
