import test from 'ava';
import { parseFrontendConfig, parseU32 } from '../../src/blkback/frontend-config.js';
import { imageSpec, parseBackendConfig } from '../../src/blkback/backend-config.js';

const reader = (keys: Record<string, string>) => async (k: string) => keys[k];
const limits = { ringPageOrderMax: 4, queuesMax: 4 };

test('a one-page, one-queue frontend (no ring-page-order, no protocol: x86_32)', async (t) => {
  const r = await parseFrontendConfig(reader({ 'ring-ref': '8', 'event-channel': '3' }), limits);
  t.deepEqual(r, { ok: true, value: { protocol: 'x86_32-abi', ringPageOrder: 0, queues: [{ ringRefs: [8], eventChannel: 3 }], persistent: false } });
});

test('order 2, two queues, persistent, x86_64', async (t) => {
  const keys: Record<string, string> = {
    protocol: 'x86_64-abi',
    'ring-page-order': '2',
    'multi-queue-num-queues': '2',
    'feature-persistent': '1',
  };
  for (const q of [0, 1]) {
    keys[`queue-${q}/event-channel`] = String(10 + q);
    for (let i = 0; i < 4; i++) keys[`queue-${q}/ring-ref${i}`] = String(100 * q + i);
  }
  const r = await parseFrontendConfig(reader(keys), limits);
  t.true(r.ok);
  if (!r.ok) return;
  t.is(r.value.ringPageOrder, 2);
  t.true(r.value.persistent);
  t.deepEqual(r.value.queues, [
    { ringRefs: [0, 1, 2, 3], eventChannel: 10 },
    { ringRefs: [100, 101, 102, 103], eventChannel: 11 },
  ]);
});

test('ring-page-order 0 present means ring-ref0 (as Linux)', async (t) => {
  const r = await parseFrontendConfig(reader({ 'ring-page-order': '0', 'ring-ref0': '5', 'event-channel': '1' }), limits);
  t.true(r.ok && r.value.queues[0]!.ringRefs[0] === 5);
});

const bad: [string, Record<string, string>, RegExp][] = [
  ['no ring-ref', { 'event-channel': '1' }, /missing ring-ref key/],
  ['no event-channel', { 'ring-ref': '1' }, /missing event-channel key/],
  ['order too big', { 'ring-page-order': '5', 'event-channel': '1' }, /ring page order 5 exceed max:4/],
  ['order malformed', { 'ring-page-order': 'x', 'event-channel': '1' }, /malformed ring-page-order/],
  ['missing ring-ref3', { 'ring-page-order': '2', 'event-channel': '1', 'ring-ref0': '1', 'ring-ref1': '1', 'ring-ref2': '1' }, /missing ring-ref3 key/],
  ['ring-ref negative', { 'ring-ref': '-1', 'event-channel': '1' }, /malformed ring-ref key/],
  ['ring-ref > u32', { 'ring-ref': '4294967296', 'event-channel': '1' }, /malformed ring-ref key/],
  ['ring-ref hex', { 'ring-ref': '0x10', 'event-channel': '1' }, /malformed ring-ref key/],
  ['zero queues', { 'multi-queue-num-queues': '0', 'ring-ref': '1', 'event-channel': '1' }, /Invalid number of requested queues/],
  ['too many queues', { 'multi-queue-num-queues': '5' }, /Invalid number of requested queues/],
  ['two queues, keys at top level', { 'multi-queue-num-queues': '2', 'ring-ref': '1', 'event-channel': '1' }, /missing queue-0\/event-channel key/],
  ['unknown protocol', { protocol: 'arm-abi', 'ring-ref': '1', 'event-channel': '1' }, /unknown fe protocol/],
];
for (const [name, keys, message] of bad) {
  test(`frontend config error: ${name}`, async (t) => {
    const r = await parseFrontendConfig(reader(keys), limits);
    t.false(r.ok);
    if (!r.ok) {
      t.regex(r.error.message, message);
      t.is(r.error.code, 'SPLITBLK_ERR_FRONTEND_CONFIG');
    }
  });
}

test('limits bound the order and queue count', async (t) => {
  const keys = { 'ring-page-order': '1', 'ring-ref0': '1', 'ring-ref1': '2', 'event-channel': '1' };
  t.false((await parseFrontendConfig(reader(keys), { ringPageOrderMax: 0, queuesMax: 1 })).ok);
  t.true((await parseFrontendConfig(reader(keys), { ringPageOrderMax: 1, queuesMax: 1 })).ok);
});

test('parseU32 is strict', (t) => {
  t.is(parseU32('0'), 0);
  t.is(parseU32('4294967295'), 0xffffffff);
  t.is(parseU32(' 7 '), 7);
  for (const s of ['', '-1', '1.5', '1e3', '4294967296', 'abc', '12345678901', undefined]) t.is(parseU32(s), undefined, String(s));
});

test('backend config in libxl layout', async (t) => {
  const r = await parseBackendConfig(
    reader({
      frontend: '/local/domain/1/device/vbd/51712',
      'frontend-id': '1',
      online: '1',
      removable: '0',
      bootable: '1',
      state: '1',
      dev: 'xvda',
      type: 'phy',
      mode: 'w',
      'device-type': 'disk',
      params: '/images/a.raw',
    }),
  );
  t.deepEqual(r, {
    ok: true,
    value: {
      frontendPath: '/local/domain/1/device/vbd/51712',
      frontendId: 1,
      spec: 'aio:/images/a.raw',
      readonly: false,
      cdrom: false,
      removable: false,
      discardEnable: true,
      online: true,
      dev: 'xvda',
    },
  });
});

test('backend config: read-only cdrom, vhd spec, errors', async (t) => {
  const base = { frontend: '/local/domain/2/device/vbd/5632', 'frontend-id': '2', params: 'vhd:/x.vhd', mode: 'r', 'device-type': 'cdrom' };
  const r = await parseBackendConfig(reader(base));
  t.true(r.ok && r.value.readonly && r.value.cdrom && r.value.spec === 'vhd:/x.vhd' && !r.value.online);
  for (const [drop, msg] of [['frontend', /missing frontend key/], ['frontend-id', /frontend-id/], ['params', /missing params key/]] as const) {
    const keys: Record<string, string> = { ...base };
    delete keys[drop];
    const bad = await parseBackendConfig(reader(keys));
    t.false(bad.ok);
    if (!bad.ok) t.regex(bad.error.message, msg);
  }
  t.is(imageSpec('tapdisk:aio:/a', 'tap'), 'aio:/a');
  t.is(imageSpec('ram:64M', 'qdisk'), 'ram:64M');
  t.is(imageSpec('/dev/sdb', 'phy'), 'aio:/dev/sdb');
});
