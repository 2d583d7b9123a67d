/**
 * The pure VHD format layer against golden vectors. The vectors come from outside our codecs:
 * bytes qemu-img 7.2 wrote (`qemu-img create -f vpc -o subformat=dynamic g.vhd 64M`) and bytes
 * laid out here field by field from the specification's offsets with Buffer.write*BE.
 */
import test from 'ava';
import {
  BAT_UNUSED,
  DiskType,
  FOOTER,
  HEADER,
  BATMAP_HEADER,
  LOCATOR,
  PLAT_CODE_MACX,
  PLAT_CODE_W2KU,
  PLAT_CODE_W2RU,
  alignedBlockSector,
  batBytes,
  batmapChecksum,
  bitAllSet,
  bitRunLength,
  bitSetRange,
  bitTest,
  bitmapSectors,
  decodeBat,
  decodeGeometry,
  decodeLocatorPath,
  dynamicLayout,
  encodeBat,
  encodeBatSector,
  encodeFooter,
  encodeGeometry,
  encodeHeader,
  encodeLocatorPath,
  geometryBytes,
  geometryForSize,
  locatorSpaceBytes,
  newFooter,
  parseBatmapHeader,
  encodeBatmapHeader,
  parseFooter,
  parseHeader,
  uuidToString,
  vhdTimeFromDate,
  vhdTimeToDate,
} from '../../src/vhd/index.js';

const QEMU_FOOTER_HEX =
  '636f6e65637469780000000200010000000000000000020032951f9171656d75000500035769326b000000000400400000000000040040' +
  '0003c4081100000003ffffedbfe042b7c79e8a4a219d7440dfb77984c8000000000000000000000000';
const QEMU_HEADER_HEX = '6378737061727365ffffffffffffffff0000000000000600000100000000002100200000fffff456';

function padded(hex: string, size: number): Buffer {
  const b = Buffer.alloc(size);
  Buffer.from(hex, 'hex').copy(b);
  return b;
}

/** The spec's checksum, written independently of src/vhd/checksum.ts. */
function specChecksum(buf: Buffer, at: number): number {
  let sum = 0;
  for (let i = 0; i < buf.length; i++) if (i < at || i >= at + 4) sum += buf[i]!;
  return ~sum >>> 0;
}

test('layouts: sizes and offsets of the C structs', (t) => {
  t.is(FOOTER.size, 512);
  t.is(FOOTER.field('checksum').offset, 64);
  t.is(FOOTER.field('uuid').offset, 68);
  t.is(FOOTER.field('savedState').offset, 84);
  t.is(HEADER.size, 1024);
  t.is(HEADER.field('parentUuid').offset, 40);
  t.is(HEADER.field('parentName').offset, 64);
  t.is(HEADER.field('locators').offset, 576);
  t.is(LOCATOR.size, 24);
  t.is(BATMAP_HEADER.field('marker').offset, 28);
});

test('footer: decodes the footer qemu-img wrote', (t) => {
  const r = parseFooter(padded(QEMU_FOOTER_HEX, 512));
  if (!r.ok) return t.fail(r.error.message);
  const f = r.value;
  t.is(f.diskType, DiskType.Dynamic);
  t.is(f.dataOffset, 512);
  t.is(f.currentSize, 0x0400_4000);
  t.is(f.version, 0x0001_0000);
  t.is(Buffer.from(f.creatorApp).toString('latin1'), 'qemu');
  t.deepEqual(decodeGeometry(f.geometry), { cylinders: 964, heads: 8, sectorsPerTrack: 17 });
  t.is(f.checksum, 0xffffedbf);
  t.is(uuidToString(f.uuid), 'e042b7c7-9e8a-4a21-9d74-40dfb77984c8');
  // Re-encoding reproduces qemu's bytes exactly, checksum included.
  t.deepEqual(Buffer.from(encodeFooter(f)), padded(QEMU_FOOTER_HEX, 512));
});

test('footer: a wrong checksum or cookie is an operating error', (t) => {
  const b = padded(QEMU_FOOTER_HEX, 512);
  b[100] = 1;
  const r = parseFooter(b);
  t.false(r.ok);
  if (!r.ok) t.is(r.error.code, 'SPLITBLK_ERR_VHD_CHECKSUM');
  const c = padded(QEMU_FOOTER_HEX, 512);
  c[0] = 0x43;
  const r2 = parseFooter(c);
  if (!r2.ok) t.is(r2.error.code, 'SPLITBLK_ERR_VHD_COOKIE');
  else t.fail();
});

test('footer: encode matches a footer laid out by hand from the spec', (t) => {
  const uuid = Uint8Array.from({ length: 16 }, (_, i) => i + 1);
  const size = 10 * 1024 * 1024;
  const ours = encodeFooter(newFooter({ size, diskType: DiskType.Dynamic, uuid, timestamp: 0x12345678, dataOffset: 512 }));
  const g = geometryForSize(size);
  const hand = Buffer.alloc(512);
  hand.write('conectix', 0, 'latin1');
  hand.writeUInt32BE(2, 8);
  hand.writeUInt32BE(0x00010000, 12);
  hand.writeBigUInt64BE(512n, 16);
  hand.writeUInt32BE(0x12345678, 24);
  hand.write('tap\0', 28, 'latin1');
  hand.writeUInt32BE(0x00010003, 32);
  hand.write('Wi2k', 36, 'latin1');
  hand.writeBigUInt64BE(BigInt(size), 40);
  hand.writeBigUInt64BE(BigInt(size), 48);
  hand.writeUInt16BE(g.cylinders, 56);
  hand.writeUInt8(g.heads, 58);
  hand.writeUInt8(g.sectorsPerTrack, 59);
  hand.writeUInt32BE(3, 60);
  Buffer.from(uuid).copy(hand, 68);
  hand.writeUInt32BE(specChecksum(hand, 64), 64);
  t.deepEqual(Buffer.from(ours), hand);
});

test('header: decodes qemu\'s header and round-trips with locators', (t) => {
  const r = parseHeader(padded(QEMU_HEADER_HEX, 1024));
  if (!r.ok) return t.fail(r.error.message);
  t.is(r.value.tableOffset, 0x600);
  t.is(r.value.maxTableEntries, 0x21);
  t.is(r.value.blockSize, 0x20_0000);
  t.deepEqual(Buffer.from(encodeHeader(r.value)), padded(QEMU_HEADER_HEX, 1024));

  const h = {
    ...r.value,
    parentUuid: Uint8Array.from({ length: 16 }, (_, i) => 0xa0 + i),
    parentTimestamp: 77,
    parentName: 'base.vhd',
    locators: [{ code: PLAT_CODE_MACX, dataSpace: 1, dataLength: 17, dataOffset: 0x1000 }],
  };
  const bytes = Buffer.from(encodeHeader(h));
  // By hand: UTF-16BE name at 64, first locator entry at 576.
  t.is(bytes.readUInt16BE(64), 'b'.charCodeAt(0));
  t.is(bytes.readUInt32BE(576), PLAT_CODE_MACX);
  t.is(bytes.readUInt32BE(580), 1);
  t.is(bytes.readUInt32BE(584), 17);
  t.is(bytes.readBigUInt64BE(592), 0x1000n);
  t.is(bytes.readUInt32BE(36), specChecksum(bytes, 36));
  const back = parseHeader(bytes);
  if (!back.ok) return t.fail(back.error.message);
  t.is(back.value.parentName, 'base.vhd');
  t.deepEqual(back.value.locators[0], h.locators[0]);
});

test('header: a block size that is not a power of two is refused', (t) => {
  const b = padded(QEMU_HEADER_HEX, 1024);
  b.writeUInt32BE(3 * 1024 * 1024, 32);
  b.writeUInt32BE(specChecksum(b, 36), 36);
  const r = parseHeader(b);
  t.false(r.ok);
});

test('locators: data space in sectors or in bytes; MacX and W2ku/W2ru paths', (t) => {
  t.is(locatorSpaceBytes({ code: 1, dataSpace: 2, dataLength: 0, dataOffset: 0 }), 1024);
  t.is(locatorSpaceBytes({ code: 1, dataSpace: 1024, dataLength: 0, dataOffset: 0 }), 1024);
  t.is(locatorSpaceBytes({ code: 1, dataSpace: 1000, dataLength: 0, dataOffset: 0 }), undefined);
  t.is(decodeLocatorPath(PLAT_CODE_MACX, Buffer.from('file://./base.vhd')), './base.vhd');
  t.is(decodeLocatorPath(PLAT_CODE_W2KU, Buffer.from('C:\\vhd\\base.vhd', 'utf16le')), 'C:/vhd/base.vhd');
  t.is(decodeLocatorPath(PLAT_CODE_W2RU, encodeLocatorPath(PLAT_CODE_W2RU, './a b.vhd')), './a b.vhd');
  t.is(decodeLocatorPath(PLAT_CODE_MACX, encodeLocatorPath(PLAT_CODE_MACX, './a b.vhd')), './a b.vhd');
});

test('geometry: the spec algorithm, and qemu\'s 64M image geometry', (t) => {
  t.deepEqual(geometryForSize(67125248), { cylinders: 964, heads: 8, sectorsPerTrack: 17 });
  t.is(encodeGeometry({ cylinders: 964, heads: 8, sectorsPerTrack: 17 }), 0x03c40811);
  t.deepEqual(geometryForSize(127 * 1024 ** 3).sectorsPerTrack, 255);
  const g = geometryForSize(10 * 1024 * 1024);
  t.true(geometryBytes(g) <= 10 * 1024 * 1024);
  t.deepEqual(geometryForSize(4 * 1024 ** 4), { cylinders: 65535, heads: 16, sectorsPerTrack: 255 });
});

test('BAT: big-endian sector offsets, padded with unused entries', (t) => {
  const bat = Uint32Array.of(4, BAT_UNUSED, 0x1234);
  const bytes = encodeBat(bat);
  t.is(bytes.length, 512);
  t.is(Buffer.from(bytes).readUInt32BE(8), 0x1234);
  t.is(Buffer.from(bytes).readUInt32BE(12), BAT_UNUSED);
  t.deepEqual(decodeBat(bytes, 3), bat);
  t.is(batBytes(129), 1024);
  const big = new Uint32Array(300).fill(BAT_UNUSED);
  big[200] = 99;
  const s = encodeBatSector(big, 200);
  t.is(s.offsetInBat, 512);
  t.is(Buffer.from(s.bytes).readUInt32BE((200 - 128) * 4), 99);
});

test('bitmaps: MSB first, runs, padding to sectors', (t) => {
  const m = new Uint8Array(512);
  bitSetRange(m, 3, 14);
  t.is(m[0], 0b0001_1111);
  t.is(m[1], 0xff);
  t.is(m[2], 0b1000_0000);
  t.true(bitTest(m, 16));
  t.false(bitTest(m, 17));
  t.is(bitRunLength(m, 0, 100, false), 3);
  t.is(bitRunLength(m, 3, 100, true), 14);
  t.true(bitAllSet(m, 3, 14));
  t.false(bitAllSet(m, 2, 14));
  t.is(bitmapSectors(4096), 1);
  t.is(bitmapSectors(8192), 2);
  t.is(bitmapSectors(8), 1);
});

test('batmap: header after the BAT, unsigned checksum (1.2) and signed (1.1)', (t) => {
  const map = new Uint8Array(512);
  map[0] = 0x80;
  t.is(batmapChecksum(map, 0x00010002), ~0x80 >>> 0);
  t.is(batmapChecksum(map, 0x00010001), ~-0x80 >>> 0);
  const hdr = encodeBatmapHeader({ batmapOffset: 0x1000, batmapSize: 1, batmapVersion: 0x00010002, checksum: 5, marker: 0 });
  const b = Buffer.from(hdr);
  t.is(b.toString('latin1', 0, 8), 'tdbatmap');
  t.is(b.readBigUInt64BE(8), 0x1000n);
  t.is(b.readUInt32BE(16), 1);
  t.is(b.readUInt32BE(24), 5);
  const back = parseBatmapHeader(hdr);
  t.true(back.ok);
});

test('layout: metadata order and page-aligned block data', (t) => {
  const l = dynamicLayout(10 * 1024 * 1024, 2 * 1024 * 1024, [30, 600]);
  t.is(l.tableOffset, 1536);
  t.is(l.maxTableEntries, 5);
  t.is(l.batmapHeaderOffset, 2048);
  t.is(l.batmapOffset, 2560);
  t.deepEqual(l.locators, [
    { offset: 3072, spaceBytes: 512 },
    { offset: 3584, spaceBytes: 1024 },
  ]);
  const first = alignedBlockSector(l.metadataEnd / 512, 1);
  t.is(((first + 1) * 512) % 4096, 0);
  t.true(first >= l.metadataEnd / 512);
});

test('timestamps count from 2000-01-01 UTC', (t) => {
  t.is(vhdTimeFromDate(new Date('2000-01-01T00:00:10Z')), 10);
  t.is(vhdTimeToDate(86400).toISOString(), '2000-01-02T00:00:00.000Z');
});
