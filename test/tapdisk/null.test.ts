/**
 * The `null:` driver's `read-zeroes` switch (after QEMU null-co): on (the default) reads return
 * zeros; off completes reads OKAY and leaves the guest's buffers as they were.
 */
import test from 'ava';
import { TdOp, TdStatus } from '../../src/tapdisk/api.js';
import { ERR_BAD_SPEC } from '../../src/tapdisk/errors.js';
import { parseSpec, switchParam } from '../../src/tapdisk/spec.js';
import { Tapdisk } from '../../src/tapdisk/tapdisk.js';
import { request } from './helpers.js';

async function readPattern(spec: string): Promise<{ status: TdStatus; memory: Uint8Array; bytesCopied: number }> {
  const tapdisk = new Tapdisk({ aio: null });
  try {
    const memory = new Uint8Array(3 * 4096).fill(0xa5);
    const region = tapdisk.registerRegion(memory.buffer);
    const vbd = await tapdisk.open(spec);
    // Three segments: two whole pages and one of 1 KiB, each a different fill path when on.
    const { status } = await request(vbd, TdOp.Read, 64, 18, region);
    return { status, memory, bytesCopied: vbd.stats().bytesCopied };
  } finally {
    await tapdisk.close();
  }
}

test('null: reads zeros by default and with read-zeroes=on, counting the fill as copied', async (t) => {
  for (const spec of ['null:1G', 'null:1G?read-zeroes=on', 'null:?read-zeroes=1']) {
    const r = await readPattern(spec);
    t.is(r.status, TdStatus.Ok, spec);
    t.true(r.memory.subarray(0, 18 * 512).every((b) => b === 0), spec);
    t.true(r.memory.subarray(18 * 512).every((b) => b === 0xa5), `${spec}: nothing past the request`);
    t.is(r.bytesCopied, 18 * 512, spec);
  }
});

test('null: with read-zeroes=off completes reads OKAY and leaves the buffer untouched', async (t) => {
  for (const spec of ['null:1G?read-zeroes=off', 'null:64K?sector-size=4096&read-zeroes=false']) {
    const r = await readPattern(spec);
    t.is(r.status, TdStatus.Ok, spec);
    t.true(r.memory.every((b) => b === 0xa5), spec);
    t.is(r.bytesCopied, 0, `${spec}: nothing written, nothing counted`);
  }
});

test('null: with read-zeroes=off still completes writes, flushes and discards', async (t) => {
  const tapdisk = new Tapdisk({ aio: null });
  t.teardown(() => tapdisk.close());
  const region = tapdisk.registerRegion(new ArrayBuffer(8192));
  const vbd = await tapdisk.open('null:1M?read-zeroes=off');
  t.is(vbd.info.sectors, 2048);
  for (const op of [TdOp.Write, TdOp.Flush, TdOp.Discard]) t.is((await request(vbd, op, 0, 16, region)).status, TdStatus.Ok);
});

test('a bad read-zeroes value is a typed spec error naming the parameter', async (t) => {
  const tapdisk = new Tapdisk({ aio: null });
  t.teardown(() => tapdisk.close());
  for (const spec of ['null:1G?read-zeroes=maybe', 'null:1G?read-zeroes', 'null:1G?read-zeroes=OFF', 'null:1G?read-zeroes=toString']) {
    const error = await t.throwsAsync(tapdisk.open(spec), undefined, spec);
    t.is((error as { code?: string }).code, ERR_BAD_SPEC, spec);
    t.regex(error!.message, /read-zeroes must be on or off/, spec);
  }
  t.deepEqual(tapdisk.vbds(), []);
});

test('switchParam reads on/off, true/false and 1/0, with a fallback when absent', (t) => {
  const parse = (text: string) => {
    const spec = parseSpec(text);
    if (!spec.ok) throw spec.error;
    return switchParam(spec.value, 'read-zeroes', true);
  };
  t.deepEqual(parse('null:'), { ok: true, value: true });
  for (const [value, expected] of [['on', true], ['off', false], ['true', true], ['false', false], ['1', true], ['0', false]] as const) {
    t.deepEqual(parse(`null:?read-zeroes=${value}`), { ok: true, value: expected }, value);
  }
  const bad = parse('null:?read-zeroes=2');
  t.false(bad.ok);
  if (!bad.ok) t.like(bad.error.fields, { param: 'read-zeroes', value: '2' });
});
