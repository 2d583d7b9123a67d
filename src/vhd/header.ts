/**
 * The dynamic disk header (1024 bytes, big-endian, cookie "cxsparse") with its eight parent
 * locator entries. Pure.
 */
import { err, ok, type Result, type SplitblkError } from '../util/errors.js';
import { onesComplementChecksum } from './checksum.js';
import { HEADER_COOKIE, HEADER_SIZE, HEADER_VERSION, U64_NONE, VHD_SECTOR_SIZE } from './constants.js';
import { VhdErrorCode, vhdError } from './errors.js';
import { defineStruct, u64ToNumber } from './struct.js';

export const LOCATOR_SIZE = 24;
export const LOCATOR_COUNT = 8;

/** struct prt_loc. */
export const LOCATOR = defineStruct('prt_loc', LOCATOR_SIZE, [
  { name: 'code', offset: 0, size: 4, kind: 'u32' }, //          uint32_t code
  { name: 'dataSpace', offset: 4, size: 4, kind: 'u32' }, //     uint32_t data_space
  { name: 'dataLength', offset: 8, size: 4, kind: 'u32' }, //    uint32_t data_len
  { name: 'reserved', offset: 12, size: 4, kind: 'u32' }, //     uint32_t res
  { name: 'dataOffset', offset: 16, size: 8, kind: 'u64' }, //   uint64_t data_offset
]);

/** struct dd_hdr. */
export const HEADER = defineStruct('dd_hdr', HEADER_SIZE, [
  { name: 'cookie', offset: 0, size: 8, kind: 'bytes' }, //              char cookie[8]
  { name: 'dataOffset', offset: 8, size: 8, kind: 'u64' }, //            uint64_t data_offset
  { name: 'tableOffset', offset: 16, size: 8, kind: 'u64' }, //          uint64_t table_offset
  { name: 'headerVersion', offset: 24, size: 4, kind: 'u32' }, //        uint32_t hdr_ver
  { name: 'maxTableEntries', offset: 28, size: 4, kind: 'u32' }, //      uint32_t max_bat_size
  { name: 'blockSize', offset: 32, size: 4, kind: 'u32' }, //            uint32_t block_size
  { name: 'checksum', offset: 36, size: 4, kind: 'u32' }, //             uint32_t checksum
  { name: 'parentUuid', offset: 40, size: 16, kind: 'bytes' }, //        uuid_t prt_uuid
  { name: 'parentTimestamp', offset: 56, size: 4, kind: 'u32' }, //      uint32_t prt_ts
  { name: 'reserved1', offset: 60, size: 4, kind: 'u32' }, //            uint32_t res1
  { name: 'parentName', offset: 64, size: 512, kind: 'bytes' }, //       char prt_name[512] (UTF-16BE)
  { name: 'locators', offset: 576, size: LOCATOR_SIZE * LOCATOR_COUNT, kind: 'bytes' }, // struct prt_loc loc[8]
  // char res2[256]
]);

const CHECKSUM_AT = HEADER.field('checksum').offset;
const PARENT_NAME_BYTES = HEADER.field('parentName').size;
/** prt_name holds this many UTF-16 code units; encodeParentName() drops any beyond. */
export const PARENT_NAME_UNITS_MAX = PARENT_NAME_BYTES / 2;

export interface Locator {
  /** Platform code (PLAT_CODE_*); 0 for an unused entry. */
  code: number;
  /** As stored: in sectors per the specification, in bytes in some Microsoft images. */
  dataSpace: number;
  dataLength: number;
  dataOffset: number;
}

export interface Header {
  tableOffset: number;
  headerVersion: number;
  maxTableEntries: number;
  blockSize: number;
  checksum: number;
  parentUuid: Uint8Array;
  parentTimestamp: number;
  /** Decoded from UTF-16BE, trailing NULs dropped. */
  parentName: string;
  locators: Locator[];
}

export function headerChecksum(buf: Uint8Array): number {
  return onesComplementChecksum(buf.subarray(0, HEADER_SIZE), CHECKSUM_AT, 4);
}

/** Decode and validate (cookie, checksum, version, power-of-two block size). */
export function parseHeader(buf: Uint8Array): Result<Header, SplitblkError> {
  if (buf.length < HEADER_SIZE) return err(vhdError(VhdErrorCode.BadField, 'header: short read'));
  const raw = HEADER.read(buf);
  if (Buffer.from(raw.cookie).toString('latin1') !== HEADER_COOKIE) {
    return err(vhdError(VhdErrorCode.BadCookie, 'header: no "cxsparse" cookie'));
  }
  const sum = headerChecksum(buf);
  if (sum !== raw.checksum) {
    return err(vhdError(VhdErrorCode.BadChecksum, `header: checksum 0x${raw.checksum.toString(16)}, computed 0x${sum.toString(16)}`));
  }
  if (raw.headerVersion !== HEADER_VERSION) {
    return err(vhdError(VhdErrorCode.BadField, `header: unsupported version 0x${raw.headerVersion.toString(16)}`));
  }
  const bs = raw.blockSize;
  if (bs < VHD_SECTOR_SIZE || (bs & (bs - 1)) !== 0) {
    return err(vhdError(VhdErrorCode.BadField, `header: block size ${bs} is not a power of two >= 512`));
  }
  const tableOffset = u64ToNumber(raw.tableOffset);
  if (tableOffset === undefined || tableOffset % VHD_SECTOR_SIZE !== 0) {
    return err(vhdError(VhdErrorCode.BadField, 'header: BAT offset out of range or unaligned'));
  }
  const locators: Locator[] = [];
  for (let i = 0; i < LOCATOR_COUNT; i++) {
    const l = LOCATOR.read(raw.locators, i * LOCATOR_SIZE);
    locators.push({ code: l.code, dataSpace: l.dataSpace, dataLength: l.dataLength, dataOffset: u64ToNumber(l.dataOffset) ?? 0 });
  }
  return ok({
    tableOffset,
    headerVersion: raw.headerVersion,
    maxTableEntries: raw.maxTableEntries,
    blockSize: bs,
    checksum: raw.checksum,
    parentUuid: raw.parentUuid,
    parentTimestamp: raw.parentTimestamp,
    parentName: decodeParentName(raw.parentName),
    locators,
  });
}

/** Encode into 1024 bytes, computing the checksum. */
export function encodeHeader(h: Header): Uint8Array {
  const buf = new Uint8Array(HEADER_SIZE);
  const locs = new Uint8Array(LOCATOR_SIZE * LOCATOR_COUNT);
  h.locators.slice(0, LOCATOR_COUNT).forEach((l, i) => {
    LOCATOR.write({ code: l.code, dataSpace: l.dataSpace, dataLength: l.dataLength, reserved: 0, dataOffset: BigInt(l.dataOffset) }, locs, i * LOCATOR_SIZE);
  });
  HEADER.write(
    {
      cookie: Buffer.from(HEADER_COOKIE, 'latin1'),
      dataOffset: U64_NONE,
      tableOffset: BigInt(h.tableOffset),
      headerVersion: h.headerVersion,
      maxTableEntries: h.maxTableEntries,
      blockSize: h.blockSize,
      checksum: 0,
      parentUuid: h.parentUuid,
      parentTimestamp: h.parentTimestamp,
      reserved1: 0,
      parentName: encodeParentName(h.parentName),
      locators: locs,
    },
    buf,
  );
  new DataView(buf.buffer).setUint32(CHECKSUM_AT, headerChecksum(buf), false);
  return buf;
}

/** UTF-16BE, at most 256 code units, NUL padded. */
export function encodeParentName(name: string): Uint8Array {
  const out = new Uint8Array(PARENT_NAME_BYTES);
  const units = Math.min(name.length, PARENT_NAME_UNITS_MAX);
  for (let i = 0; i < units; i++) {
    const c = name.charCodeAt(i);
    out[2 * i] = c >>> 8;
    out[2 * i + 1] = c & 0xff;
  }
  return out;
}

export function decodeParentName(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i + 1 < bytes.length; i += 2) {
    const c = (bytes[i]! << 8) | bytes[i + 1]!;
    if (c === 0) break;
    s += String.fromCharCode(c);
  }
  return s;
}
