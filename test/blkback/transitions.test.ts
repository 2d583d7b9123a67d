import test from 'ava';
import { XenbusState as S } from '../../src/xenstore-sim/xenbus/index.js';
import {
  BACKEND_EVENTS,
  BackendAction as A,
  BackendEvent as E,
  TRANSITIONS,
  transition,
  transitionRow,
} from '../../src/blkback/transitions.js';

const STATES: S[] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
const ONLINE = [true, false];

function* everyInput(): Generator<[S, S, boolean, E]> {
  for (const back of STATES) for (const front of STATES) for (const online of ONLINE) for (const event of BACKEND_EVENTS) {
    yield [back, front, online, event];
  }
}

test('every (backend, frontend, online, event) has exactly one defined answer, and every row is reachable', (t) => {
  const used = new Set<number>();
  let inputs = 0;
  for (const [back, front, online, event] of everyInput()) {
    inputs++;
    const i = transitionRow(back, front, online, event);
    used.add(i);
    const { action, next } = transition(back, front, online, event);
    t.true(Object.values(A).includes(action));
    if (next !== undefined) t.true([S.InitWait, S.Connected, S.Closing, S.Closed].includes(next), `next ${next}`);
  }
  t.is(inputs, 9 * 9 * 2 * BACKEND_EVENTS.length);
  const dead = TRANSITIONS.map((r, i) => ({ ...r, i })).filter((r) => !used.has(r.i));
  t.deepEqual(dead, [], 'rows that no input reaches');
});

test('invariants hold over all inputs', (t) => {
  for (const [back, front, online, event] of everyInput()) {
    const { action, next } = transition(back, front, online, event);
    const where = `${S[back]}/${S[front]}/online=${online}/${event}`;
    if (action === A.Connect) {
      t.true(event === E.FrontendChanged && online, where);
      t.true(front === S.Initialised || front === S.Connected, where);
      t.true([S.InitWait, S.Initialised, S.Closed].includes(back), where);
      t.is(next, S.Connected, where);
    }
    if (next === S.Connected) t.is(action, A.Connect, where);
    if (next === S.InitWait) t.true(online, where);
    if (action === A.Remove) t.true(!online || event === E.BackendGone, where);
    if (event === E.BackendGone) t.is(action, A.Remove, where);
    if (action === A.Resize) t.is(back, S.Connected, where);
    if (event === E.Fatal && back !== S.Closing && back !== S.Closed) {
      t.is(action, A.Fail, where);
      t.is(next, S.Closing, where);
    }
    // A frontend that closed always finds the backend closed or closing its device down.
    if (event === E.FrontendChanged && front === S.Closed && back !== S.Unknown && back !== S.Initialising) {
      t.true(next === S.Closed || (next === undefined && back === S.Closed), where);
      t.true(action === A.Disconnect || action === A.Remove || action === A.None, where);
    }
    // Once detached, nothing brings the device up again.
    if (!online) t.false(action === A.Connect || action === A.PublishFeatures, where);
    // A live device asked to detach either closes now or asks the frontend to.
    if (event === E.OnlineOff && !online && back !== S.Closed) {
      t.true(action === A.Remove ? next === S.Closed : next === S.Closing || back === S.Closing, where);
    }
    if (event === E.DetachTimeout && !online) t.deepEqual({ action, next }, { action: A.Remove, next: S.Closed }, where);
  }
});

/** Drive a sequence of (front state) changes from a backend state; return the states visited. */
function walk(start: S, steps: [E, S][], online = true): [S, A[]] {
  let back = start;
  const actions: A[] = [];
  for (const [event, front] of steps) {
    const { action, next } = transition(back, front, online, event);
    actions.push(action);
    if (next !== undefined) back = next;
  }
  return [back, actions];
}

test('the blkif.h handshake connects', (t) => {
  const [state, actions] = walk(S.Initialising, [
    [E.Probed, S.Initialising],
    [E.FrontendChanged, S.Initialising],
    [E.FrontendChanged, S.Initialised],
    [E.FrontendChanged, S.Connected],
  ]);
  t.is(state, S.Connected);
  t.deepEqual(actions, [A.PublishFeatures, A.None, A.Connect, A.None]);
});

test('shortcuts: a frontend already Connected (or Initialised) before the probe gets connected', (t) => {
  for (const front of [S.Initialised, S.Connected]) {
    const [state, actions] = walk(S.Initialising, [
      [E.FrontendChanged, front],
      [E.Probed, front],
      [E.FrontendChanged, front],
    ]);
    t.is(state, S.Connected);
    t.deepEqual(actions, [A.None, A.PublishFeatures, A.Connect]);
  }
});

test('reconnect: Closing, Closed, Initialising, Initialised', (t) => {
  const [state, actions] = walk(S.Connected, [
    [E.FrontendChanged, S.Closing],
    [E.FrontendChanged, S.Closed],
    [E.FrontendChanged, S.Initialising],
    [E.FrontendChanged, S.Initialised],
  ]);
  t.is(state, S.Connected);
  t.deepEqual(actions, [A.None, A.Disconnect, A.None, A.Connect]);
});

test('detach with a connected frontend: Closing, then Closed and removed when the frontend closes', (t) => {
  const [state, actions] = walk(
    S.Connected,
    [
      [E.OnlineOff, S.Connected],
      [E.FrontendChanged, S.Closing],
      [E.FrontendChanged, S.Closed],
    ],
    false,
  );
  t.is(state, S.Closed);
  t.deepEqual(actions, [A.None, A.None, A.Remove]);
});

test('detach with no frontend, frontend death, fatal errors, resize', (t) => {
  t.deepEqual(transition(S.InitWait, S.Unknown, false, E.OnlineOff), { action: A.Remove, next: S.Closed });
  t.deepEqual(transition(S.Connected, S.Unknown, true, E.FrontendChanged), { action: A.Disconnect, next: S.Closed });
  t.deepEqual(transition(S.InitWait, S.Unknown, true, E.FrontendChanged), { action: A.None, next: undefined });
  t.deepEqual(transition(S.Connected, S.Connected, true, E.Fatal), { action: A.Fail, next: S.Closing });
  t.deepEqual(transition(S.Connected, S.Connected, true, E.Resized), { action: A.Resize, next: undefined });
  t.deepEqual(transition(S.InitWait, S.Initialising, true, E.Resized), { action: A.None, next: undefined });
  t.deepEqual(transition(S.Connected, S.Reconfiguring, true, E.FrontendChanged), { action: A.Fail, next: S.Closing });
  t.deepEqual(transition(S.Closing, S.Connected, true, E.FrontendChanged), { action: A.None, next: undefined });
});
