/**
 * The blkif codecs against the C headers.
 *
 * Method: a C file including <xen/io/blkif.h> is compiled by gcc for each ABI. For x86_64 it is
 * the host ABI. For x86_32 there is usually no 32-bit libc here (gcc-multilib is absent), so the
 * file is compiled with `-m32 -ffreestanding`, which needs only gcc's own <stdint.h>/<stddef.h>
 * and gives the genuine i386 layout (uint64_t 4-aligned, blkif.h's `#ifdef __i386__` pad), with
 * no hand-written packed structs. Nothing 32-bit is linked or run: the numbers are read from
 * `const unsigned int` arrays in the assembler output (`.long` lines), and golden bytes from
 * initialised `const` structs in the object file, cut out with objcopy. So sizes, every field
 * offset and the byte images come from the compiler, independent of our layout code.
 */
import test, { type ExecutionContext } from 'ava';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ABI_X86_32, ABI_X86_64, layoutOf, type Abi } from '../../src/blkback/protocol/ctypes.js';
import { BLKIF_X86_32, BLKIF_X86_64, blkifLayouts, type BlkifCodec } from '../../src/blkback/protocol/codec.js';
import { BlkifRequest, BlkifResponse } from '../../src/blkback/protocol/request.js';
import { BLKIF_STRUCTS } from '../../src/blkback/protocol/structs.js';
import { ringSlotsForOrder } from '../../src/ring/sring.js';
import { available } from '../helpers/ci.js';
import { gcc, gccMissing } from '../helpers/gcc.js';
import { tempDir } from '../helpers/temp.js';

const PRELUDE = '#include <stdint.h>\n#include <stddef.h>\n#include <xen/io/blkif.h>\n';
const abiFlags = (abi: Abi) => (abi.name === 'x86_32' ? ['-m32', '-ffreestanding'] : ['-m64']);

/** Compile `body` for `abi` and return the values of the `const unsigned int vals[]` array. */
function cValues(t: ExecutionContext, abi: Abi, body: string): number[] {
  const dir = tempDir(t, 'splitblk-blkif-');
  const src = join(dir, 'v.c');
  writeFileSync(src, `${PRELUDE}const unsigned int vals[] = {\n${body}\n};\n`);
  const asm = gcc([...abiFlags(abi), '-S', '-o', '-', src]);
  const start = asm.indexOf('vals:');
  const values: number[] = [];
  for (const line of asm.slice(start).split('\n').slice(1)) {
    const m = /^\s*\.long\s+(\d+)/.exec(line);
    if (!m) break;
    values.push(Number(m[1]));
  }
  return values;
}

/** Compile initialised const structs for `abi` and return the bytes of each, by section name. */
function cBytes(t: ExecutionContext, abi: Abi, defs: Record<string, string>): Record<string, Buffer> {
  const dir = tempDir(t, 'splitblk-blkif-');
  const src = join(dir, 'g.c');
  const obj = join(dir, 'g.o');
  const body = Object.entries(defs)
    .map(([name, def]) => `__attribute__((section(".golden_${name}"))) const ${def};`)
    .join('\n');
  writeFileSync(src, `${PRELUDE}${body}\n`);
  gcc([...abiFlags(abi), '-c', '-o', obj, src]);
  const out: Record<string, Buffer> = {};
  for (const name of Object.keys(defs)) {
    const bin = join(dir, `${name}.bin`);
    const r = spawnSync('objcopy', ['-O', 'binary', `--only-section=.golden_${name}`, obj, bin], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`objcopy: ${r.stderr}`);
    out[name] = readFileSync(bin);
  }
  return out;
}

for (const abi of [ABI_X86_64, ABI_X86_32]) {
  test(`${abi.name}: sizeof and every offsetof/field size match <xen/io/blkif.h>`, (t) => {
    if (!available(t, gccMissing(['/usr/include/xen/io/blkif.h']))) return;
    const exprs: string[] = [];
    const expected: number[] = [];
    const labels: string[] = [];
    for (const def of BLKIF_STRUCTS) {
      const layout = layoutOf(def, abi);
      exprs.push(`sizeof(struct ${def.cName})`);
      expected.push(layout.size);
      labels.push(`sizeof(${def.cName})`);
      for (const f of layout.fields) {
        exprs.push(`offsetof(struct ${def.cName}, ${f.name})`, `sizeof(((struct ${def.cName} *)0)->${f.name})`);
        expected.push(f.offset, f.size);
        labels.push(`offsetof(${def.cName}, ${f.name})`, `sizeof(${def.cName}.${f.name})`);
      }
    }
    // The ring: header size, slot and __CONST_RING_SIZE for orders 0..4.
    exprs.push('offsetof(struct blkif_sring, ring)', 'sizeof(union blkif_sring_entry)');
    const codec = abi === ABI_X86_64 ? BLKIF_X86_64 : BLKIF_X86_32;
    expected.push(64, Math.max(codec.requestSize, codec.responseSize));
    labels.push('offsetof(blkif_sring, ring)', 'sizeof(blkif_sring_entry)');
    for (let order = 0; order <= 4; order++) {
      exprs.push(`__CONST_RING_SIZE(blkif, ${4096 << order})`);
      expected.push(ringSlotsForOrder(codec, order));
      labels.push(`__CONST_RING_SIZE(blkif, ${4096 << order})`);
    }
    const actual = cValues(t, abi, exprs.join(',\n'));
    t.is(actual.length, expected.length, 'one value per expression');
    for (let i = 0; i < expected.length; i++) t.is(expected[i], actual[i], labels[i]);
  });
}

test('the codecs have the sizes the issue states', (t) => {
  t.deepEqual([BLKIF_X86_64.requestSize, BLKIF_X86_64.responseSize], [112, 16]);
  t.deepEqual([BLKIF_X86_32.requestSize, BLKIF_X86_32.responseSize], [108, 12]);
  t.is(blkifLayouts(ABI_X86_32).indirect.size, 64, 'i386 indirect padded to 64');
  t.is(blkifLayouts(ABI_X86_64).indirect.size, 64);
  t.is(BLKIF_X86_64.segmentSize, 8);
});

/** The C initialisers and the values the codec must decode from them. */
const GOLDEN = {
  rw: 'struct blkif_request rw = { .operation = 1, .nr_segments = 3, .handle = 0xca51, .id = 0x8877665544332211ULL, .sector_number = 0x000123456789abcdULL, .seg = { { 0x01020304, 0, 7 }, { 0xfffffffe, 2, 5 }, { 77, 7, 7 } } }',
  discard: 'struct blkif_request_discard discard = { .operation = 5, .flag = BLKIF_DISCARD_SECURE, .handle = 0x0300, .id = 0xdeadbeefcafef00dULL, .sector_number = 4096, .nr_sectors = 0x100000000ULL }',
  indirect: 'struct blkif_request_indirect indirect = { .operation = 6, .indirect_op = 0, .nr_segments = 4096, .id = 42, .sector_number = 0x1fffffffffffffULL, .handle = 51712, .indirect_grefs = { 11, 12, 13, 14, 15, 16, 17, 0xffffffff } }',
  rsp: 'struct blkif_response rsp = { .id = 0x0102030405060708ULL, .operation = 6, .status = BLKIF_RSP_EOPNOTSUPP }',
  seg: 'struct blkif_request_segment seg = { .gref = 0xabcdef01, .first_sect = 1, .last_sect = 6 }',
};

function slotFrom(codec: BlkifCodec, bytes: Buffer) {
  const buf = new ArrayBuffer(codec.requestSize + 16);
  const u8 = new Uint8Array(buf);
  // A non-zero background shows that writers zero every byte of the struct.
  u8.fill(0xa5);
  u8.set(bytes, 8);
  return { bytes: u8, view: new DataView(buf) };
}

for (const codec of [BLKIF_X86_64, BLKIF_X86_32]) {
  test(`${codec.abi}: golden bytes from gcc decode, and re-encode byte for byte`, (t) => {
    if (!available(t, gccMissing(['/usr/include/xen/io/blkif.h']))) return;
    const abi = codec === BLKIF_X86_64 ? ABI_X86_64 : ABI_X86_32;
    const golden = cBytes(t, abi, GOLDEN);
    const req = new BlkifRequest(4096);

    // Direct read/write request.
    const rw = golden['rw']!;
    t.is(rw.length, codec.requestSize);
    codec.readRequest(slotFrom(codec, rw), 8, req);
    t.like(req, { operation: 1, nrSegments: 3, handle: 0xca51, idLo: 0x44332211, idHi: 0x88776655, sectorNumber: 0x000123456789abcd, segmentCount: 3 });
    t.deepEqual([...req.gref.subarray(0, 3)], [0x01020304, 0xfffffffe, 77]);
    t.deepEqual([...req.firstSect.subarray(0, 3)], [0, 2, 7]);
    t.deepEqual([...req.lastSect.subarray(0, 3)], [7, 5, 7]);
    const out = slotFrom(codec, Buffer.alloc(0));
    codec.writeRequest(out, 8, req);
    t.deepEqual(Buffer.from(out.bytes.subarray(8, 8 + codec.requestSize)), rw, 'rw request bytes');
    t.is(out.bytes[8 + codec.requestSize], 0xa5, 'nothing written past the slot');

    // Discard.
    const discard = golden['discard']!;
    codec.readRequest(slotFrom(codec, discard), 8, req);
    t.like(req, { operation: 5, flag: 1, handle: 0x0300, idLo: 0xcafef00d, idHi: 0xdeadbeef, sectorNumber: 4096, nrSectors: 2 ** 32, segmentCount: 0 });
    const outD = slotFrom(codec, Buffer.alloc(0));
    codec.writeRequest(outD, 8, req);
    t.deepEqual(Buffer.from(outD.bytes.subarray(8, 8 + discard.length)), discard, 'discard bytes');
    t.true(outD.bytes.subarray(8 + discard.length, 8 + codec.requestSize).every((b) => b === 0), 'the rest of the slot zeroed');

    // Indirect.
    const indirect = golden['indirect']!;
    t.is(indirect.length, 64);
    codec.readRequest(slotFrom(codec, indirect), 8, req);
    t.like(req, { operation: 6, indirectOp: 0, nrSegments: 4096, idLo: 42, idHi: 0, sectorNumber: 0x1fffffffffffff, handle: 51712 });
    t.deepEqual([...req.indirectGrefs], [11, 12, 13, 14, 15, 16, 17, 0xffffffff]);
    const outI = slotFrom(codec, Buffer.alloc(0));
    codec.writeRequest(outI, 8, req);
    t.deepEqual(Buffer.from(outI.bytes.subarray(8, 8 + indirect.length)), indirect, 'indirect bytes');

    // Indirect page segments.
    const seg = golden['seg']!;
    t.is(seg.length, 8);
    const page = new Uint8Array(4096);
    page.set(seg, 511 * 8);
    codec.readIndirectSegments(new DataView(page.buffer), 0, 511, 1, req, 4095);
    t.deepEqual([req.gref[4095], req.firstSect[4095], req.lastSect[4095]], [0xabcdef01, 1, 6]);
    const page2 = new Uint8Array(4096).fill(0xa5);
    codec.writeIndirectSegments({ bytes: page2, view: new DataView(page2.buffer) }, 0, 511, req, 4095, 1);
    t.deepEqual(Buffer.from(page2.subarray(511 * 8)), seg);

    // Response: every byte written, padding zeroed.
    const rsp = golden['rsp']!;
    t.is(rsp.length, codec.responseSize);
    const outR = slotFrom(codec, Buffer.alloc(0));
    codec.writeResponse(outR, 8, 0x05060708, 0x01020304, 6, -2);
    t.deepEqual(Buffer.from(outR.bytes.subarray(8, 8 + codec.responseSize)), rsp, 'response bytes');
    const r = new BlkifResponse();
    codec.readResponse(slotFrom(codec, rsp), 8, r);
    t.like(r, { idLo: 0x05060708, idHi: 0x01020304, operation: 6, status: -2 });
  });
}
