/**
 * Unit tests of the shared ring: sizing against __CONST_RING_SIZE for orders 0..4, index
 * wrap-around at 2^32, the overflow checks a backend uses against a hostile frontend, and the
 * notification decisions of the push and final-check operations.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BackRing } from '../../src/ring/back.js';
import { FrontRing } from '../../src/ring/front.js';
import { idxDiff, ringSlots, ringSlotsForOrder, roundDownPow2, SRING } from '../../src/ring/sring.js';
import { available } from '../helpers/ci.js';
import { gcc, gccMissing } from '../helpers/gcc.js';
import { tempDir } from '../helpers/temp.js';
import { BLKIF_X86_64 } from './script.js';

const PAGE = 4096;

test('__CONST_RING_SIZE(blkif, 4096 << order) for orders 0..4 equals ringSlotsForOrder', (t) => {
  if (!available(t, gccMissing(['/usr/include/xen/io/ring.h']))) return;
  const dir = tempDir(t, 'splitblk-ringsize-');
  const src = join(dir, 'size.c');
  const bin = join(dir, 'size');
  const code = `#include <stdint.h>
#include <stdio.h>
#include <stddef.h>
#include <xen/io/blkif.h>
int main(void) {
  printf("%zu %zu %zu\\n", offsetof(struct blkif_sring, ring), sizeof(union blkif_sring_entry), sizeof(blkif_sring_t));
  printf("%u %u %u %u %u\\n", (unsigned)__CONST_RING_SIZE(blkif, 4096), (unsigned)__CONST_RING_SIZE(blkif, 8192),
    (unsigned)__CONST_RING_SIZE(blkif, 16384), (unsigned)__CONST_RING_SIZE(blkif, 32768), (unsigned)__CONST_RING_SIZE(blkif, 65536));
  return 0;
}`;
  writeFileSync(src, code);
  gcc(['-o', bin, src]);
  const [header, sizes] = spawnSync(bin, { encoding: 'utf8' }).stdout.trim().split('\n');
  const [ringOffset, entry] = header!.split(' ').map(Number);
  t.is(ringOffset, SRING.ring);
  t.is(entry, Math.max(BLKIF_X86_64.requestSize, BLKIF_X86_64.responseSize));
  t.deepEqual(sizes!.split(' ').map(Number), [0, 1, 2, 3, 4].map((o) => ringSlotsForOrder(BLKIF_X86_64, o)));
});

test('roundDownPow2 is __RD32', (t) => {
  t.is(roundDownPow2(0), 0);
  t.is(roundDownPow2(1), 1);
  t.is(roundDownPow2(36), 32);
  t.is(roundDownPow2(37), 32);
  t.is(roundDownPow2(64), 64);
  t.is(roundDownPow2(0xffffffff), 0x80000000);
  t.is(ringSlots(BLKIF_X86_64, 64), 0);
  t.is(ringSlots({ requestSize: 108, responseSize: 12 }, PAGE), 32);
});

test('indices wrap at 2^32: free counts, slots and notify across the wrap', (t) => {
  const buffer = new ArrayBuffer(PAGE);
  const start = 0xfffffffe;
  const front = FrontRing.initAt(buffer, 0, PAGE, BLKIF_X86_64, start);
  const back = BackRing.attach(buffer, 0, PAGE, BLKIF_X86_64, start);
  t.is(front.size, 32);
  t.is(front.freeRequests(), 32);
  const slots: number[] = [];
  for (let i = 0; i < 5; i++) slots.push(front.produceRequest());
  t.is(front.reqProdPvt, 3, 'req_prod_pvt wrapped to 3');
  t.deepEqual(slots, [30, 31, 0, 1, 2].map((s) => SRING.ring + s * 112));
  t.true(front.pushRequestsAndCheckNotify(), 'the backend asked for the first request (req_event = start + 1)');
  t.is(back.unconsumedRequests(), 5);
  t.is(idxDiff(back.requestsProduced(), back.reqCons), 5);
  back.reqCons = (back.reqCons + 5) >>> 0;
  t.false(back.finalCheckForRequests());
  t.is(back.sring.loadReqEvent(), 4, 'req_event = req_cons + 1 after the wrap');
  for (let i = 0; i < 5; i++) back.produceResponse();
  t.true(back.pushResponsesAndCheckNotify());
  t.is(front.unconsumedResponses(), 5);
  front.rspCons = front.responsesProduced();
  t.is(front.freeRequests(), 32);
  t.false(front.finalCheckForResponses());
  t.is(front.sring.loadRspEvent(), 4);
});

test('a push notifies only when it crosses the peer\'s event index', (t) => {
  const buffer = new ArrayBuffer(PAGE);
  const front = FrontRing.init(buffer, 0, PAGE, BLKIF_X86_64);
  const back = BackRing.init(buffer, 0, PAGE, BLKIF_X86_64);
  front.produceRequest();
  t.true(front.pushRequestsAndCheckNotify(), 'req_event 1 is crossed by 0 -> 1');
  front.produceRequest();
  t.false(front.pushRequestsAndCheckNotify(), 'the backend has not re-armed: no notification');
  back.reqCons = 2;
  t.false(back.finalCheckForRequests(), 'nothing more; req_event becomes 3');
  front.produceRequest();
  front.produceRequest();
  t.true(front.pushRequestsAndCheckNotify(), '2 -> 4 crosses req_event 3');
  t.is(front.freeRequests(), 28);
  while (!front.full()) front.produceRequest();
  t.is(front.freeRequests(), 0);
});

test('the back ring never reports more requests than free response slots, and spots overflow', (t) => {
  const buffer = new ArrayBuffer(PAGE);
  const start = 0xfffffff8;
  const front = FrontRing.initAt(buffer, 0, PAGE, BLKIF_X86_64, start);
  const back = BackRing.attach(buffer, 0, PAGE, BLKIF_X86_64, start);
  // A hostile frontend writes req_prod far beyond what the ring can hold.
  front.sring.storeReqProd((start + 1000) >>> 0);
  const prod = back.requestsProduced();
  t.true(back.requestProdOverflow(prod));
  t.is(back.unconsumedRequests(), 32, 'capped at the free response slots');
  t.false(back.requestConsOverflow(back.reqCons));
  back.reqCons = (back.reqCons + 32) >>> 0;
  t.true(back.requestConsOverflow(back.reqCons), 'a 33rd request would overwrite an unanswered slot');
  t.is(back.unconsumedRequests(), 0);
  // Exactly a ring's worth is legal.
  front.sring.storeReqProd((start + 32) >>> 0);
  t.false(back.requestProdOverflow(back.requestsProduced()));
  // And the frontend spots a backend pushing too many responses.
  t.true(front.responseProdOverflow((start + 33) >>> 0));
  t.false(front.responseProdOverflow((start + 32) >>> 0));
});

test('a multi-page ring lays slots out contiguously across pages', (t) => {
  const order = 4;
  const bytes = PAGE << order;
  const buffer = new ArrayBuffer(bytes + PAGE);
  // The ring may sit at a page offset within a larger mapping.
  const front = FrontRing.init(buffer, PAGE, bytes, BLKIF_X86_64);
  t.is(front.size, 512);
  t.is(front.sring.slotOffset(511), SRING.ring + 511 * 112);
  t.true(front.sring.slotOffset(511) + 112 <= bytes);
  t.is(front.sring.slotOffset(512), SRING.ring, 'index 512 wraps to slot 0');
  t.is(new Uint32Array(buffer, PAGE, 4)[1], 1, 'req_event initialised to 1 in the ring, not at offset 0');
  t.is(new Uint32Array(buffer, 0, 4)[1], 0);
});
