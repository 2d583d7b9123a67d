/**
 * CHS geometry from a size, by the algorithm in the VHD specification's appendix ("CHS
 * calculation"). Pure.
 */
import { CHS_SECTORS_MAX, VHD_SECTOR_SIZE } from './constants.js';

export interface Geometry {
  cylinders: number;
  heads: number;
  sectorsPerTrack: number;
}

export function geometryForSize(bytes: number): Geometry {
  let total = Math.ceil(bytes / VHD_SECTOR_SIZE);
  if (total > CHS_SECTORS_MAX) total = CHS_SECTORS_MAX;
  let spt: number;
  let heads: number;
  let cylTimesHeads: number;
  if (total >= 65535 * 16 * 63) {
    spt = 255;
    heads = 16;
    cylTimesHeads = Math.floor(total / spt);
  } else {
    spt = 17;
    cylTimesHeads = Math.floor(total / spt);
    heads = Math.floor((cylTimesHeads + 1023) / 1024);
    if (heads < 4) heads = 4;
    if (cylTimesHeads >= heads * 1024 || heads > 16) {
      spt = 31;
      heads = 16;
      cylTimesHeads = Math.floor(total / spt);
    }
    if (cylTimesHeads >= heads * 1024) {
      spt = 63;
      heads = 16;
      cylTimesHeads = Math.floor(total / spt);
    }
  }
  return { cylinders: Math.floor(cylTimesHeads / heads), heads, sectorsPerTrack: spt };
}

/** The footer's u32: cylinders (16 bits), heads (8), sectors per track (8). */
export function encodeGeometry(g: Geometry): number {
  return ((g.cylinders << 16) | (g.heads << 8) | g.sectorsPerTrack) >>> 0;
}

export function decodeGeometry(n: number): Geometry {
  return { cylinders: (n >>> 16) & 0xffff, heads: (n >>> 8) & 0xff, sectorsPerTrack: n & 0xff };
}

/** The size CHS geometry describes (what Virtual PC and old qemu take as the disk size). */
export function geometryBytes(g: Geometry): number {
  return g.cylinders * g.heads * g.sectorsPerTrack * VHD_SECTOR_SIZE;
}
