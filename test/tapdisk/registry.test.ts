import test from 'ava';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  ERR_BAD_SPEC, ERR_NO_IMAGE, ERR_TYPE_UNAVAILABLE, ERR_UNKNOWN_TYPE,
} from '../../src/tapdisk/errors.js';
import { driverTable, loadDriver, optional } from '../../src/tapdisk/registry.js';
import { parseSpec } from '../../src/tapdisk/spec.js';
import { Tapdisk } from '../../src/tapdisk/tapdisk.js';

async function code(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (error) {
    return (error as { code?: string }).code;
  }
}

test('specs parse into type, path and parameters', (t) => {
  const s = parseSpec('aio:/srv/a:b.img?direct=1&x=%2F');
  t.true(s.ok);
  if (!s.ok) return;
  t.is(s.value.type, 'aio');
  t.is(s.value.path, '/srv/a:b.img');
  t.deepEqual(s.value.params, { direct: '1', x: '/' });
  t.false(parseSpec('/no/type').ok);
  t.false(parseSpec('AIO:/x').ok);
});

test('the registry has one static entry per type, vhd included', (t) => {
  t.deepEqual(Object.keys(driverTable).sort(), ['aio', 'null', 'ram', 'raw', 'vhd']);
});

test('unknown type, unavailable type, missing image and bad spec are distinct errors', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapreg-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'disk.img');
  fs.writeFileSync(file, Buffer.alloc(4096));
  const tapdisk = new Tapdisk({ aio: null });
  t.teardown(() => tapdisk.close());
  t.is(await code(tapdisk.open('qcow2:/x')), ERR_UNKNOWN_TYPE);
  t.is(await code(tapdisk.open(`aio:${file}`)), ERR_TYPE_UNAVAILABLE, 'no AIO context in this process');
  t.is(await code(tapdisk.open(`aio:${dir}/missing.img`)), ERR_NO_IMAGE);
  t.is(await code(tapdisk.open(`vhd:${dir}/missing.vhd`)), ERR_NO_IMAGE);
  t.is(await code(tapdisk.open('no-colon')), ERR_BAD_SPEC);
  t.is(await code(tapdisk.open('null:12x')), ERR_BAD_SPEC);
  t.is(await code(tapdisk.open('ram:1000')), ERR_BAD_SPEC, 'not a multiple of the sector size');
  t.deepEqual(tapdisk.vbds(), []);
});

test('a type whose module is absent reports unavailable', async (t) => {
  const table = { vhd: { summary: 'absent', file: true, load: optional('./drivers/absent/index.js') } };
  t.is(await code(loadDriver('vhd', table)), ERR_TYPE_UNAVAILABLE);
  t.is(await code(loadDriver('qcow', table)), ERR_UNKNOWN_TYPE);
});

test('null: and ram: take their size from the path', async (t) => {
  const tapdisk = new Tapdisk({ aio: null });
  t.teardown(() => tapdisk.close());
  t.is((await tapdisk.open('null:')).info.sectors, 2 * 1024 * 1024);
  t.is((await tapdisk.open('null:64K')).info.sectors, 128);
  const ram = await tapdisk.open('ram:8M?sector-size=4096');
  t.is(ram.info.sectors, 16384);
  t.is(ram.info.sectorSize, 4096);
});
