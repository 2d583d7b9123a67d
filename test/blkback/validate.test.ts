import test from 'ava';
import {
  checkOp,
  checkRange,
  checkSegments,
  discardIsSecure,
  responseOp,
  Verdict as V,
  verdictStatus,
  type VbdCaps,
} from '../../src/blkback/validate.js';

const caps: VbdCaps = { sectors: 2048, readonly: false, indirectSegmentsMax: 4096, flush: true, barrier: true, discard: true, discardSecure: false };
const ro: VbdCaps = { ...caps, readonly: true };
const bare: VbdCaps = { ...caps, flush: false, barrier: false, discard: false, indirectSegmentsMax: 0 };

const READ = 0, WRITE = 1, BARRIER = 2, FLUSH = 3, RESERVED = 4, DISCARD = 5, INDIRECT = 6;

test('operations and segment counts, as Linux blkback answers them', (t) => {
  const cases: [string, number, number, number, VbdCaps, V][] = [
    ['read 1 seg', READ, 0, 1, caps, V.Ok],
    ['read 11 segs', READ, 0, 11, caps, V.Ok],
    ['read 0 segs', READ, 0, 0, caps, V.SegmentsZero],
    ['read 12 segs', READ, 0, 12, caps, V.SegmentsTooMany],
    ['write 255 segs', WRITE, 0, 255, caps, V.SegmentsTooMany],
    ['write on ro', WRITE, 0, 1, ro, V.ReadOnly],
    ['read on ro', READ, 0, 1, ro, V.Ok],
    ['flush empty', FLUSH, 0, 0, caps, V.Ok],
    ['flush with data', FLUSH, 0, 3, caps, V.Ok],
    ['flush 12 segs', FLUSH, 0, 12, caps, V.SegmentsTooMany],
    ['barrier empty', BARRIER, 0, 0, caps, V.Ok],
    ['flush on ro', FLUSH, 0, 0, ro, V.ReadOnly],
    ['barrier on ro', BARRIER, 0, 0, ro, V.ReadOnly],
    ['flush unadvertised', FLUSH, 0, 0, bare, V.FlushUnsupported],
    ['barrier unadvertised', BARRIER, 0, 0, bare, V.BarrierUnsupported],
    ['discard', DISCARD, 0, 0xff, caps, V.Ok],
    ['discard on ro', DISCARD, 0, 0, ro, V.ReadOnly],
    ['discard unadvertised', DISCARD, 0, 0, bare, V.DiscardUnsupported],
    ['reserved_1', RESERVED, 0, 0, caps, V.UnknownOp],
    ['op 7', 7, 0, 1, caps, V.UnknownOp],
    ['op 255', 255, 0, 1, caps, V.UnknownOp],
    ['indirect read 4096', INDIRECT, READ, 4096, caps, V.Ok],
    ['indirect write 12', INDIRECT, WRITE, 12, caps, V.Ok],
    ['indirect 4097', INDIRECT, READ, 4097, caps, V.SegmentsTooMany],
    ['indirect 65535', INDIRECT, WRITE, 65535, caps, V.SegmentsTooMany],
    ['indirect 0', INDIRECT, READ, 0, caps, V.SegmentsZero],
    ['indirect flush', INDIRECT, FLUSH, 1, caps, V.IndirectBadOp],
    ['indirect discard', INDIRECT, DISCARD, 1, caps, V.IndirectBadOp],
    ['indirect indirect', INDIRECT, INDIRECT, 1, caps, V.IndirectBadOp],
    ['indirect write ro', INDIRECT, WRITE, 1, ro, V.ReadOnly],
    ['indirect not offered', INDIRECT, READ, 1, bare, V.IndirectUnsupported],
  ];
  for (const [name, op, inner, nseg, c, want] of cases) t.is(checkOp(op, inner, nseg, c), want, name);
});

test('every op code 0..255 gets an answer and never throws', (t) => {
  for (let op = 0; op < 256; op++) for (const c of [caps, ro, bare]) {
    const v = checkOp(op, op & 7, op, c);
    t.true(v in V);
    if (op > 6 || op === RESERVED) t.is(v, V.UnknownOp);
  }
});

test('statuses: EOPNOTSUPP for unknown and unadvertised ops, ERROR otherwise', (t) => {
  t.is(verdictStatus(V.Ok), 0);
  for (const v of [V.UnknownOp, V.FlushUnsupported, V.BarrierUnsupported, V.DiscardUnsupported, V.IndirectUnsupported]) t.is(verdictStatus(v), -2);
  for (const v of [V.SegmentsZero, V.SegmentsTooMany, V.ReadOnly, V.SegmentBounds, V.BeyondEnd, V.MapFailed, V.IndirectBadOp, V.IoError]) t.is(verdictStatus(v), -1);
});

test('segments: first_sect <= last_sect <= 7', (t) => {
  const f = new Uint8Array([0, 0, 7, 3]);
  const l = new Uint8Array([7, 0, 7, 5]);
  t.is(checkSegments(f, l, 4), 8 + 1 + 1 + 3);
  t.is(checkSegments(new Uint8Array([1]), new Uint8Array([0]), 1), -1);
  t.is(checkSegments(new Uint8Array([0]), new Uint8Array([8]), 1), -1);
  t.is(checkSegments(new Uint8Array([255]), new Uint8Array([255]), 1), -1);
  t.is(checkSegments(new Uint8Array([0, 0]), new Uint8Array([7, 9]), 2), -1);
  t.is(checkSegments(f, l, 0), 0);
});

test('ranges: within the VBD, no u64 wrap', (t) => {
  t.is(checkRange(0, 2048, caps), V.Ok);
  t.is(checkRange(2047, 1, caps), V.Ok);
  t.is(checkRange(2047, 2, caps), V.BeyondEnd);
  t.is(checkRange(2048, 0, caps), V.Ok);
  t.is(checkRange(2049, 0, caps), V.BeyondEnd);
  // u64 values near 2^64 (as Numbers from a u64 read): a C `sector + n` would wrap to a small value.
  const u64max = Number(0xffff_ffff_ffff_ffffn);
  t.is(checkRange(u64max, 8, caps), V.BeyondEnd);
  t.is(checkRange(2 ** 64 - 2 ** 11, 2 ** 12, caps), V.BeyondEnd);
  t.is(checkRange(2 ** 53, 1, caps), V.BeyondEnd);
  t.is(checkRange(0, u64max, caps), V.BeyondEnd);
  t.is(checkRange(Number.NaN, 1, caps), V.BeyondEnd);
  t.is(checkRange(-1, 1, caps), V.BeyondEnd);
});

test('responses echo the inner op of an indirect request; discard-secure only when advertised', (t) => {
  t.is(responseOp(INDIRECT, WRITE), WRITE);
  t.is(responseOp(READ, 99), READ);
  t.false(discardIsSecure(1, caps));
  t.true(discardIsSecure(1, { ...caps, discardSecure: true }));
  t.false(discardIsSecure(2, { ...caps, discardSecure: true }));
});
