/**
 * Bitmaps, MSB first (bit i is 0x80 >> (i % 8) of byte i / 8), as used by the per-block sector
 * bitmaps (set = the sector is present in this image) and by tapdisk's batmap (set = the block
 * is fully allocated). Pure.
 */
import { VHD_SECTOR_SIZE } from './constants.js';

export function bitTest(map: Uint8Array, i: number): boolean {
  return (map[i >>> 3]! & (0x80 >>> (i & 7))) !== 0;
}

export function bitSet(map: Uint8Array, i: number): void {
  map[i >>> 3] = map[i >>> 3]! | (0x80 >>> (i & 7));
}

export function bitClear(map: Uint8Array, i: number): void {
  map[i >>> 3] = map[i >>> 3]! & ~(0x80 >>> (i & 7));
}

/** Set bits [from, from+count). Whole bytes are set at once in the middle. */
export function bitSetRange(map: Uint8Array, from: number, count: number): void {
  let i = from;
  const end = from + count;
  while (i < end && (i & 7) !== 0) bitSet(map, i++);
  while (i + 8 <= end) {
    map[i >>> 3] = 0xff;
    i += 8;
  }
  while (i < end) bitSet(map, i++);
}

/** Whether every bit in [from, from+count) is set. */
export function bitAllSet(map: Uint8Array, from: number, count: number): boolean {
  return bitRunLength(map, from, from + count, true) === count;
}

/** How many bits from `from` (up to `end`) equal `value`. */
export function bitRunLength(map: Uint8Array, from: number, end: number, value: boolean): number {
  let i = from;
  const full = value ? 0xff : 0x00;
  while (i < end) {
    if ((i & 7) === 0 && i + 8 <= end && map[i >>> 3] === full) {
      i += 8;
      continue;
    }
    if (bitTest(map, i) !== value) break;
    i++;
  }
  return i - from;
}

/** Sectors a block's bitmap occupies: one bit per sector, padded to whole sectors, at least one. */
export function bitmapSectors(sectorsPerBlock: number): number {
  return Math.max(1, Math.ceil(Math.ceil(sectorsPerBlock / 8) / VHD_SECTOR_SIZE));
}
