/** Codec behaviour that needs no compiler: op decoding, protocol selection, the one-copy read. */
import test from 'ava';
import {
  BLKIF_NATIVE,
  BLKIF_X86_32,
  BLKIF_X86_64,
  codecForProtocol,
} from '../../src/blkback/protocol/codec.js';
import { BLKIF_OP_DISCARD, BLKIF_OP_INDIRECT, BLKIF_OP_READ, opFromWire, statusFromWire } from '../../src/blkback/protocol/ops.js';
import { BlkifRequest } from '../../src/blkback/protocol/request.js';

test('opFromWire decodes 0..6 and nothing else', (t) => {
  for (let n = 0; n <= 6; n++) t.is(opFromWire(n) as number | undefined, n);
  for (const n of [7, 8, 255, -1, 0.5, NaN]) t.is(opFromWire(n), undefined);
  t.is(statusFromWire(-2), -2);
  t.is(statusFromWire(-3), undefined);
});

test('codecForProtocol: x86_64-abi, x86_32-abi, absent means x86_32, unknown is undefined', (t) => {
  t.is(codecForProtocol('x86_64-abi'), BLKIF_X86_64);
  t.is(codecForProtocol('x86_32-abi'), BLKIF_X86_32);
  t.is(codecForProtocol(undefined), BLKIF_X86_32);
  t.is(codecForProtocol('arm-abi'), undefined);
  t.is(codecForProtocol(''), undefined);
  t.is(BLKIF_NATIVE, BLKIF_X86_64);
});

test('readRequest copies the slot once: later writes by the frontend do not change the copy', (t) => {
  for (const codec of [BLKIF_X86_64, BLKIF_X86_32]) {
    const buf = new ArrayBuffer(256);
    const mem = { bytes: new Uint8Array(buf), view: new DataView(buf) };
    const req = new BlkifRequest();
    req.operation = BLKIF_OP_READ;
    req.nrSegments = 2;
    req.segmentCount = 2;
    req.gref.set([5, 6]);
    req.lastSect.set([7, 7]);
    req.idLo = 9;
    req.sectorNumber = 2 ** 40 + 3;
    codec.writeRequest(mem, 64, req);
    const copy = new BlkifRequest();
    codec.readRequest(mem, 64, copy);
    // The frontend rewrites the slot after the copy (a double-fetch attack).
    mem.bytes.fill(0xff, 64, 64 + codec.requestSize);
    t.like(copy, { operation: BLKIF_OP_READ, nrSegments: 2, idLo: 9, sectorNumber: 2 ** 40 + 3, segmentCount: 2 });
    t.deepEqual([...copy.gref.subarray(0, 2)], [5, 6]);
    // And a hostile slot decodes without throwing, leaving validation to the caller.
    codec.readRequest(mem, 64, copy);
    t.is(copy.operation, 255);
    t.is(copy.nrSegments, 255);
    t.is(copy.segmentCount, 11, 'never more than 11 direct segments copied');
    t.true(copy.sectorNumber >= 2 ** 53, 'a u64 beyond 2^53 stays beyond any disk');
  }
});

test('a discard and an indirect request round-trip through the ring slot', (t) => {
  for (const codec of [BLKIF_X86_64, BLKIF_X86_32]) {
    const buf = new ArrayBuffer(128);
    const mem = { bytes: new Uint8Array(buf), view: new DataView(buf) };
    const req = new BlkifRequest(4096);
    req.operation = BLKIF_OP_DISCARD;
    req.sectorNumber = 123;
    req.nrSectors = 2 ** 33;
    req.flag = 1;
    codec.writeRequest(mem, 0, req);
    const copy = new BlkifRequest(4096);
    codec.readRequest(mem, 0, copy);
    t.like(copy, { operation: BLKIF_OP_DISCARD, sectorNumber: 123, nrSectors: 2 ** 33, flag: 1 });
    req.clear();
    req.operation = BLKIF_OP_INDIRECT;
    req.indirectOp = 1;
    req.nrSegments = 1000;
    req.indirectGrefs.set([1, 2]);
    req.idHi = 0xffffffff;
    codec.writeRequest(mem, 0, req);
    codec.readRequest(mem, 0, copy);
    t.like(copy, { operation: BLKIF_OP_INDIRECT, indirectOp: 1, nrSegments: 1000, idHi: 0xffffffff, segmentCount: 0 });
    t.deepEqual([...copy.indirectGrefs.subarray(0, 3)], [1, 2, 0]);
  }
});
