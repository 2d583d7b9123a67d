import test from 'ava';
import { OutputQueue, type OutFrame } from '../../src/xenstore-sim/server/output-queue.js';

/*
 * C's check_event_timeout() on one connection's out_list: from the front, watch events with
 * nothing written whose deadline passed are dropped; replies, a partly written event and
 * everything from the first event still in time on stay, in order.
 */

function item(name: string, opts: { reply?: boolean; sent?: number; deadlineMs?: number } = {}): OutFrame {
  const frame = Buffer.from(`${'h'.repeat(16)}${name}\0tok\0`, 'latin1');
  const reply = opts.reply ?? false;
  return { frame, sent: opts.sent ?? 0, reply, pend: undefined, eventKey: reply ? undefined : name, deadlineMs: opts.deadlineMs ?? 0 };
}

const names = (q: OutputQueue): string[] => {
  const out: string[] = [];
  for (let i = q.shift(); i !== undefined; i = q.shift()) out.push(i.eventKey ?? 'reply');
  return out;
};

test('expired events go, the rest stays in order, and the next deadline is reported', (t) => {
  const q = new OutputQueue();
  q.push(item('partly-written', { sent: 5, deadlineMs: 100 }));
  q.push(item('old-1', { deadlineMs: 100 }));
  q.push(item('r', { reply: true }));
  q.push(item('old-2', { deadlineMs: 150 }));
  q.push(item('fresh', { deadlineMs: 300 }));
  q.push(item('old-after-fresh', { deadlineMs: 120 }));
  const dropped: string[] = [];
  const next = q.dropExpired(200, (i) => dropped.push(i.eventKey!));
  t.deepEqual(dropped, ['old-1', 'old-2']);
  t.is(next, 300);
  t.is(q.length, 4);
  t.false(q.hasEvent('old-1'));
  t.true(q.hasEvent('fresh'));
  const bytes = q.bytes;
  t.deepEqual(names(q), ['partly-written', 'reply', 'fresh', 'old-after-fresh']);
  t.true(bytes > 0);
  t.is(q.bytes, 0);
});

test('nothing due: nothing changes; an empty queue has no deadline', (t) => {
  const q = new OutputQueue();
  t.is(q.dropExpired(1000, () => t.fail()), 0);
  q.push(item('a', { deadlineMs: 500 }));
  q.push(item('r', { reply: true }));
  t.is(q.dropExpired(499, () => t.fail()), 500);
  t.is(q.dropExpired(500, () => undefined), 0);
  t.deepEqual(names(q), ['reply']);
});
