/**
 * The block allocation table: max_table_entries big-endian u32 sector offsets, padded to whole
 * sectors; BAT_UNUSED marks an unallocated block. Pure.
 */
import { BAT_UNUSED, VHD_SECTOR_SIZE } from './constants.js';

/** Bytes the BAT occupies on disk (padded to sectors, at least one sector). */
export function batBytes(entries: number): number {
  return Math.max(1, Math.ceil((entries * 4) / VHD_SECTOR_SIZE)) * VHD_SECTOR_SIZE;
}

export function decodeBat(buf: Uint8Array, entries: number): Uint32Array {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const bat = new Uint32Array(entries);
  for (let i = 0; i < entries; i++) bat[i] = view.getUint32(i * 4, false);
  return bat;
}

/** The whole on-disk BAT, padding filled with BAT_UNUSED as libvhd does. */
export function encodeBat(bat: Uint32Array): Uint8Array {
  const buf = new Uint8Array(batBytes(bat.length)).fill(0xff);
  const view = new DataView(buf.buffer);
  for (let i = 0; i < bat.length; i++) view.setUint32(i * 4, bat[i]!, false);
  return buf;
}

/** The one BAT sector holding `entry`, encoded: what an allocation writes. */
export function encodeBatSector(bat: Uint32Array, entry: number): { offsetInBat: number; bytes: Uint8Array } {
  const perSector = VHD_SECTOR_SIZE / 4;
  const first = Math.floor(entry / perSector) * perSector;
  const bytes = new Uint8Array(VHD_SECTOR_SIZE).fill(0xff);
  const view = new DataView(bytes.buffer);
  for (let i = first; i < Math.min(first + perSector, bat.length); i++) view.setUint32((i - first) * 4, bat[i]!, false);
  return { offsetInBat: first * 4, bytes };
}

export function batEntryUsed(v: number): boolean {
  return v !== BAT_UNUSED;
}
