import test from 'ava';
import {
  XENSTORE_PAYLOAD_MAX, XS_ERRORS, XS_HEADER_SIZE, XS_RING_INTERFACE_SIZE, XS_TYPE_COUNT, XsType, xsTypeName,
} from '../../src/xenstore-sim/wire/messages.js';
import { XsFrameParser, type XsParseResult } from '../../src/xenstore-sim/wire/parser.js';
import { encodePacket, nulSeparated, nulTerminated, splitNul } from '../../src/xenstore-sim/wire/serializer.js';

/*
 * Golden vectors written by hand from xs_wire.h: struct xsd_sockmsg is four little-endian
 * u32 (type, req_id, tx_id, len) followed by len payload bytes.
 */
const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

// XS_READ (2), req_id 0x11223344, tx_id 0, payload "/a\0"
const READ_A = hex('02000000 44332211 00000000 03000000 2f6100');
// XS_WRITE (11), req_id 7, tx_id 5, payload "/k\0v" (the value has no terminating NUL)
const WRITE_KV = hex('0b000000 07000000 05000000 04000000 2f6b0076');
// XS_WATCH_EVENT (15), req_id 0, tx_id 0, payload "/k\0tok\0"
const EVENT = hex('0f000000 00000000 00000000 07000000 2f6b00 746f6b00');
// XS_TRANSACTION_END (7) with an empty payload is still a full 16-byte header.
const EMPTY = hex('07000000 01000000 02000000 00000000');

test('constants match xs_wire.h', (t) => {
  t.is(XS_HEADER_SIZE, 16);
  t.is(XENSTORE_PAYLOAD_MAX, 4096);
  t.is(XS_TYPE_COUNT, 23);
  t.is(XsType.Control, 0);
  t.is(XsType.SetTarget, 19);
  t.is(XsType.ResetWatches, 21);
  t.is(XsType.DirectoryPart, 22);
  t.is(xsTypeName(20), undefined);
  t.is(xsTypeName(2), 'XS_READ');
  t.deepEqual(XS_ERRORS.map((e) => e.name), [
    'EINVAL', 'EACCES', 'EEXIST', 'EISDIR', 'ENOENT', 'ENOMEM', 'ENOSPC', 'EIO', 'ENOTEMPTY', 'ENOSYS',
    'EROFS', 'EBUSY', 'EAGAIN', 'EISCONN', 'E2BIG', 'EPERM',
  ]);
  // 2 x 1024-byte rings, 4 indices, server_features, connection, error.
  t.is(XS_RING_INTERFACE_SIZE, 2048 + 4 * 4 + 3 * 4);
});

test('encodePacket produces the golden bytes', (t) => {
  t.deepEqual(encodePacket(XsType.Read, 0x11223344, 0, nulTerminated('/a')), READ_A);
  t.deepEqual(encodePacket(XsType.Write, 7, 5, nulSeparated('/k', 'v')), WRITE_KV);
  t.deepEqual(encodePacket(XsType.WatchEvent, 0, 0, nulTerminated('/k', 'tok')), EVENT);
  t.deepEqual(encodePacket(XsType.TransactionEnd, 1, 2, Buffer.alloc(0)), EMPTY);
});

test('splitNul reads NUL-separated strings', (t) => {
  t.deepEqual(splitNul(Buffer.from('a\0b\0')), ['a', 'b']);
  t.deepEqual(splitNul(Buffer.from('a\0b')), ['a', 'b']);
  t.deepEqual(splitNul(Buffer.alloc(0)), []);
});

function drain(parser: XsFrameParser): XsParseResult[] {
  const out: XsParseResult[] = [];
  for (;;) {
    const r = parser.next();
    if (r.kind === 'need') return out;
    out.push(r);
    if (r.kind === 'error') return out;
  }
}

const GOLDEN = [READ_A, WRITE_KV, EVENT, EMPTY];
const EXPECTED = [
  { type: 2, reqId: 0x11223344, txId: 0, payload: hex('2f6100') },
  { type: 11, reqId: 7, txId: 5, payload: hex('2f6b0076') },
  { type: 15, reqId: 0, txId: 0, payload: hex('2f6b00746f6b00') },
  { type: 7, reqId: 1, txId: 2, payload: Buffer.alloc(0) },
];

test('every frame split at every byte offset parses the same', (t) => {
  for (const [i, frame] of GOLDEN.entries()) {
    for (let cut = 0; cut <= frame.length; cut++) {
      const parser = new XsFrameParser();
      parser.push(frame.subarray(0, cut));
      const early = drain(parser);
      if (cut < frame.length) {
        t.deepEqual(early, [], `no packet before byte ${cut}`);
        const need = parser.next();
        t.is(need.kind, 'need');
        if (need.kind === 'need') t.true(need.bytes > 0 && need.bytes <= frame.length - cut);
      }
      parser.push(frame.subarray(cut));
      const got = [...early, ...drain(parser)];
      t.deepEqual(got, [{ kind: 'packet', packet: EXPECTED[i] }], `frame ${i} cut at ${cut}`);
      t.is(parser.pending, 0);
    }
  }
});

test('several frames glued in one chunk, then byte by byte', (t) => {
  const glued = Buffer.concat(GOLDEN);
  const parser = new XsFrameParser();
  parser.push(glued);
  t.deepEqual(drain(parser).map((r) => (r.kind === 'packet' ? r.packet : r)), EXPECTED);
  const slow = new XsFrameParser();
  const got: XsParseResult[] = [];
  for (const byte of glued) {
    slow.push(Buffer.from([byte]));
    got.push(...drain(slow));
  }
  t.deepEqual(got.map((r) => (r.kind === 'packet' ? r.packet : r)), EXPECTED);
});

test('a length over XENSTORE_PAYLOAD_MAX is a sticky error', (t) => {
  const parser = new XsFrameParser();
  parser.push(hex('02000000 01000000 00000000 01100000'));
  const r = parser.next();
  t.is(r.kind, 'error');
  parser.push(READ_A);
  t.is(parser.next().kind, 'error');
  const atMax = new XsFrameParser();
  atMax.push(encodePacket(XsType.Write, 1, 0, Buffer.alloc(4096, 0x61)));
  const ok = atMax.next();
  t.is(ok.kind, 'packet');
});

test('payload is a view of the chunk when it lies in one chunk', (t) => {
  const chunk = Buffer.concat([READ_A, EVENT]);
  const parser = new XsFrameParser();
  parser.push(chunk);
  const r = parser.next();
  t.is(r.kind, 'packet');
  if (r.kind === 'packet') t.is(r.packet.payload.buffer, chunk.buffer);
});
