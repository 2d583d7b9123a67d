import { TdOp, TdStatus, type TdRequest } from '../../src/tapdisk/api.js';

/** A pooled-style request with room for `segmentsMax` segments. */
export function makeRequest(segmentsMax = 16): TdRequest {
  return {
    op: TdOp.Read, sector: 0, sectors: 0, secure: false, segments: 0,
    segRegion: new Uint32Array(segmentsMax), segOffset: new Uint32Array(segmentsMax), segLength: new Uint32Array(segmentsMax),
    done: () => undefined, tag: 0,
  };
}

/** Fill `req` for `op` on [sector, sector+sectors) with one segment per 4 KiB of `region` at `offset`. */
export function setRequest(req: TdRequest, op: TdOp, sector: number, sectors: number, region = 0, offset = 0): TdRequest {
  req.op = op;
  req.sector = sector;
  req.sectors = op === TdOp.Flush ? 0 : sectors;
  req.secure = false;
  let bytes = op === TdOp.Read || op === TdOp.Write ? sectors * 512 : 0;
  let n = 0;
  while (bytes > 0) {
    const len = Math.min(4096, bytes);
    req.segRegion[n] = region;
    req.segOffset[n] = offset;
    req.segLength[n] = len;
    offset += len;
    bytes -= len;
    n++;
  }
  req.segments = n;
  return req;
}

export interface Outcome {
  status: TdStatus;
  errno: number;
}

/** Anything requests can be queued on: a Vbd or an ImageDriver. */
export interface Queueable {
  queue(req: TdRequest): void;
}

/** Queue `req` on `vbd` and resolve when it completes. */
export function submit(vbd: Queueable, req: TdRequest): Promise<Outcome> {
  return new Promise((resolve) => {
    req.done = (_r, status, errno) => resolve({ status, errno });
    vbd.queue(req);
  });
}

export function request(vbd: Queueable, op: TdOp, sector: number, sectors: number, region = 0, offset = 0): Promise<Outcome> {
  return submit(vbd, setRequest(makeRequest(Math.max(1, Math.ceil(sectors / 8))), op, sector, sectors, region, offset));
}
