/**
 * The hard disk footer (512 bytes, big-endian): at EOF-512 of every VHD and, for dynamic and
 * differencing disks, also as a copy at offset 0. Pure.
 */
import { err, ok, type Result, type SplitblkError } from '../util/errors.js';
import { onesComplementChecksum } from './checksum.js';
import {
  CREATOR_TAP,
  CREATOR_VERSION_TAP,
  DiskType,
  diskTypeFromWire,
  FEATURES_RESERVED,
  FILE_FORMAT_VERSION,
  FOOTER_COOKIE,
  FOOTER_SIZE,
  HOST_OS_WI2K,
  U64_NONE,
  VHD_SECTOR_SIZE,
} from './constants.js';
import { VhdErrorCode, vhdError } from './errors.js';
import { encodeGeometry, geometryForSize } from './geometry.js';
import { defineStruct, u64ToNumber } from './struct.js';

/** struct hd_ftr (libvhd vhd.h). */
export const FOOTER = defineStruct('hd_ftr', FOOTER_SIZE, [
  { name: 'cookie', offset: 0, size: 8, kind: 'bytes' }, //          char cookie[8]
  { name: 'features', offset: 8, size: 4, kind: 'u32' }, //          uint32_t features
  { name: 'version', offset: 12, size: 4, kind: 'u32' }, //          uint32_t ff_version
  { name: 'dataOffset', offset: 16, size: 8, kind: 'u64' }, //       uint64_t data_offset
  { name: 'timestamp', offset: 24, size: 4, kind: 'u32' }, //        uint32_t timestamp
  { name: 'creatorApp', offset: 28, size: 4, kind: 'bytes' }, //     char crtr_app[4]
  { name: 'creatorVersion', offset: 32, size: 4, kind: 'u32' }, //   uint32_t crtr_ver
  { name: 'creatorHostOs', offset: 36, size: 4, kind: 'u32' }, //    uint32_t crtr_os
  { name: 'originalSize', offset: 40, size: 8, kind: 'u64' }, //     uint64_t orig_size
  { name: 'currentSize', offset: 48, size: 8, kind: 'u64' }, //      uint64_t curr_size
  { name: 'geometry', offset: 56, size: 4, kind: 'u32' }, //         uint32_t geometry
  { name: 'diskType', offset: 60, size: 4, kind: 'u32' }, //         uint32_t type
  { name: 'checksum', offset: 64, size: 4, kind: 'u32' }, //         uint32_t checksum
  { name: 'uuid', offset: 68, size: 16, kind: 'bytes' }, //          uuid_t uuid
  { name: 'savedState', offset: 84, size: 1, kind: 'u8' }, //        char saved
  { name: 'hidden', offset: 85, size: 1, kind: 'u8' }, //            char hidden (tapdisk)
  // char reserved[426]
]);

const CHECKSUM_AT = FOOTER.field('checksum').offset;

/** A decoded footer, with u64 sizes as numbers and `dataOffset` undefined for "none". */
export interface Footer {
  features: number;
  version: number;
  dataOffset: number | undefined;
  timestamp: number;
  creatorApp: Uint8Array;
  creatorVersion: number;
  creatorHostOs: number;
  originalSize: number;
  currentSize: number;
  geometry: number;
  diskType: DiskType;
  checksum: number;
  uuid: Uint8Array;
  savedState: number;
  hidden: number;
}

export function footerChecksum(buf: Uint8Array): number {
  return onesComplementChecksum(buf.subarray(0, FOOTER_SIZE), CHECKSUM_AT, 4);
}

/** Decode and validate (cookie, checksum, disk type, sizes). Any failure is an operating error. */
export function parseFooter(buf: Uint8Array): Result<Footer, SplitblkError> {
  if (buf.length < FOOTER_SIZE) return err(vhdError(VhdErrorCode.BadField, 'footer: short read'));
  const raw = FOOTER.read(buf);
  if (Buffer.from(raw.cookie).toString('latin1') !== FOOTER_COOKIE) {
    return err(vhdError(VhdErrorCode.BadCookie, 'footer: no "conectix" cookie'));
  }
  const sum = footerChecksum(buf);
  if (sum !== raw.checksum) {
    return err(vhdError(VhdErrorCode.BadChecksum, `footer: checksum 0x${raw.checksum.toString(16)}, computed 0x${sum.toString(16)}`));
  }
  const diskType = diskTypeFromWire(raw.diskType);
  if (diskType === undefined) return err(vhdError(VhdErrorCode.BadField, `footer: unsupported disk type ${raw.diskType}`));
  const currentSize = u64ToNumber(raw.currentSize);
  const originalSize = u64ToNumber(raw.originalSize);
  if (currentSize === undefined || originalSize === undefined || currentSize % VHD_SECTOR_SIZE !== 0) {
    return err(vhdError(VhdErrorCode.BadField, 'footer: size out of range or not a multiple of 512'));
  }
  const dataOffset = raw.dataOffset === U64_NONE ? undefined : u64ToNumber(raw.dataOffset);
  if (diskType !== DiskType.Fixed && dataOffset === undefined) {
    return err(vhdError(VhdErrorCode.BadField, 'footer: a dynamic disk needs a header offset'));
  }
  return ok({ ...raw, diskType, currentSize, originalSize, dataOffset });
}

/** Encode into 512 bytes, computing the checksum (the `checksum` field is ignored). */
export function encodeFooter(f: Footer): Uint8Array {
  const buf = new Uint8Array(FOOTER_SIZE);
  FOOTER.write(
    {
      ...f,
      cookie: Buffer.from(FOOTER_COOKIE, 'latin1'),
      dataOffset: f.dataOffset === undefined ? U64_NONE : BigInt(f.dataOffset),
      originalSize: BigInt(f.originalSize),
      currentSize: BigInt(f.currentSize),
      checksum: 0,
    },
    buf,
  );
  new DataView(buf.buffer).setUint32(CHECKSUM_AT, footerChecksum(buf), false);
  return buf;
}

/** A new footer as splitblk creates it ('tap\0' 1.3, geometry from the size). */
export function newFooter(opts: {
  size: number;
  diskType: DiskType;
  uuid: Uint8Array;
  timestamp: number;
  dataOffset: number | undefined;
}): Footer {
  return {
    features: FEATURES_RESERVED,
    version: FILE_FORMAT_VERSION,
    dataOffset: opts.dataOffset,
    timestamp: opts.timestamp,
    creatorApp: CREATOR_TAP,
    creatorVersion: CREATOR_VERSION_TAP,
    creatorHostOs: HOST_OS_WI2K,
    originalSize: opts.size,
    currentSize: opts.size,
    geometry: encodeGeometry(geometryForSize(opts.size)),
    diskType: opts.diskType,
    checksum: 0,
    uuid: opts.uuid,
    savedState: 0,
    hidden: 0,
  };
}

/** The creator application as text ('tap', 'qemu', 'vpc ', 'win '). */
export function creatorAppString(f: Footer): string {
  return Buffer.from(f.creatorApp).toString('latin1').replace(/\0+$/, '');
}

/** Whether the image was made by tapdisk/libvhd (and so may carry a batmap). */
export function creatorIsTapdisk(f: Footer): boolean {
  return f.creatorApp[0] === 0x74 && f.creatorApp[1] === 0x61 && f.creatorApp[2] === 0x70;
}
