/**
 * tapdisk's batmap extension (libvhd "tdbatmap"): after the BAT, a one-sector header, then a
 * bitmap with one bit per block, set when the block is fully allocated (every sector bit set),
 * so readers can skip the block's sector bitmap. Present in images whose creator is 'tap' with
 * creator version >= 1.2. Pure.
 */
import { err, ok, type Result, type SplitblkError } from '../util/errors.js';
import { batBytes } from './bat.js';
import { BATMAP_COOKIE, BATMAP_VERSION_1_1, BATMAP_VERSION_CURRENT, VHD_SECTOR_SIZE } from './constants.js';
import { VhdErrorCode, vhdError } from './errors.js';
import { defineStruct, u64ToNumber } from './struct.js';

/** struct dd_batmap_hdr (29 bytes used; one sector on disk). */
export const BATMAP_HEADER = defineStruct('dd_batmap_hdr', VHD_SECTOR_SIZE, [
  { name: 'cookie', offset: 0, size: 8, kind: 'bytes' }, //          char cookie[8] "tdbatmap"
  { name: 'batmapOffset', offset: 8, size: 8, kind: 'u64' }, //      uint64_t batmap_offset (bytes)
  { name: 'batmapSize', offset: 16, size: 4, kind: 'u32' }, //       uint32_t batmap_size (sectors)
  { name: 'batmapVersion', offset: 20, size: 4, kind: 'u32' }, //    uint32_t batmap_version
  { name: 'checksum', offset: 24, size: 4, kind: 'u32' }, //         uint32_t checksum (of the map)
  { name: 'marker', offset: 28, size: 1, kind: 'u8' }, //            char marker
]);

export interface BatmapHeader {
  batmapOffset: number;
  /** In sectors. */
  batmapSize: number;
  batmapVersion: number;
  checksum: number;
  marker: number;
}

/** Where the batmap header lives: right after the (padded) BAT. */
export function batmapHeaderOffset(tableOffset: number, maxTableEntries: number): number {
  return tableOffset + batBytes(maxTableEntries);
}

/** Sectors of map for `entries` blocks (at least one). */
export function batmapSectors(entries: number): number {
  return Math.max(1, Math.ceil(Math.ceil(entries / 8) / VHD_SECTOR_SIZE));
}

export function parseBatmapHeader(buf: Uint8Array): Result<BatmapHeader, SplitblkError> {
  const raw = BATMAP_HEADER.read(buf);
  if (Buffer.from(raw.cookie).toString('latin1') !== BATMAP_COOKIE) {
    return err(vhdError(VhdErrorCode.BadCookie, 'batmap: no "tdbatmap" cookie'));
  }
  if (raw.batmapVersion > BATMAP_VERSION_CURRENT) {
    return err(vhdError(VhdErrorCode.BadField, `batmap: unsupported version 0x${raw.batmapVersion.toString(16)}`));
  }
  const batmapOffset = u64ToNumber(raw.batmapOffset);
  if (batmapOffset === undefined) return err(vhdError(VhdErrorCode.BadField, 'batmap: offset out of range'));
  return ok({ batmapOffset, batmapSize: raw.batmapSize, batmapVersion: raw.batmapVersion, checksum: raw.checksum, marker: raw.marker });
}

export function encodeBatmapHeader(h: BatmapHeader): Uint8Array {
  const buf = new Uint8Array(VHD_SECTOR_SIZE);
  BATMAP_HEADER.write({ ...h, cookie: Buffer.from(BATMAP_COOKIE, 'latin1'), batmapOffset: BigInt(h.batmapOffset) }, buf);
  return buf;
}

/** One's complement of the byte sum of the map; version 1.1 summed signed chars. */
export function batmapChecksum(map: Uint8Array, version: number): number {
  let sum = 0;
  const signed = version === BATMAP_VERSION_1_1;
  for (let i = 0; i < map.length; i++) {
    const b = map[i]!;
    sum = (sum + (signed && b >= 0x80 ? b - 0x100 : b)) >>> 0;
  }
  return ~sum >>> 0;
}
