/**
 * Where each range of the virtual disk comes from, like `qemu-img map`: for every extent, the
 * depth in the chain that holds it (0 = the leaf) and its offset in that file, or that no image
 * holds it (it reads as zeros).
 */
import { BAT_UNUSED, DiskType, VHD_SECTOR_SIZE, bitRunLength, bitTest } from '../../../../vhd/index.js';
import type { Layer } from '../chain.js';

export interface MapExtent {
  start: number;
  length: number;
  depth: number;
  present: boolean;
  zero: boolean;
  data: boolean;
  /** Byte offset in the file at `depth`, when the data is there. */
  offset?: number;
  /** That file's path, when the data is there. */
  filename?: string;
}

/** Extents of the chain, merged where contiguous. Block granularity bounds the work. */
export async function mapChain(layers: Layer[]): Promise<MapExtent[]> {
  const out: MapExtent[] = [];
  const sectors = layers[0]!.sectors;
  await mapRange(layers, 0, 0, sectors, out);
  return out;
}

async function mapRange(layers: Layer[], level: number, sector: number, count: number, out: MapExtent[]): Promise<void> {
  const layer = layers[level];
  if (count === 0) return;
  if (layer === undefined || sector >= layer.sectors) {
    push(out, { start: sector * VHD_SECTOR_SIZE, length: count * VHD_SECTOR_SIZE, depth: layers.length - 1, present: false, zero: true, data: false });
    return;
  }
  if (sector + count > layer.sectors) {
    const inside = layer.sectors - sector;
    await mapRange(layers, level, sector, inside, out);
    await mapRange(layers, layers.length, layer.sectors, count - inside, out);
    return;
  }
  if (layer.kind === 'raw' || layer.type === DiskType.Fixed) {
    push(out, dataExtent(sector, count, level, sector * VHD_SECTOR_SIZE, layer.path));
    return;
  }
  const spb = layer.sectorsPerBlock;
  for (let s = sector; s < sector + count; ) {
    const block = Math.floor(s / spb);
    const inBlock = s % spb;
    const n = Math.min(spb - inBlock, sector + count - s);
    const entry = layer.bat[block]!;
    const below = (at: number, len: number) =>
      layer.type === DiskType.Differencing ? mapRange(layers, level + 1, at, len, out) : mapRange(layers, layers.length, at, len, out);
    if (entry === BAT_UNUSED) await below(s, n);
    else {
      const base = layer.dataOffset(entry);
      const bm = layer.batmapFull(block) ? undefined : await layer.bitmap(block);
      for (let i = 0; i < n; ) {
        const present = bm === undefined || bitTest(bm, inBlock + i);
        const run = bm === undefined ? n : bitRunLength(bm, inBlock + i, inBlock + n, present);
        if (present) push(out, dataExtent(s + i, run, level, base + (inBlock + i) * VHD_SECTOR_SIZE, layer.path));
        else await below(s + i, run);
        i += run;
      }
    }
    s += n;
  }
}

function dataExtent(sector: number, count: number, depth: number, offset: number, filename: string): MapExtent {
  return { start: sector * VHD_SECTOR_SIZE, length: count * VHD_SECTOR_SIZE, depth, present: true, zero: false, data: true, offset, filename };
}

function push(out: MapExtent[], x: MapExtent): void {
  const last = out[out.length - 1];
  if (
    last !== undefined &&
    last.start + last.length === x.start &&
    last.depth === x.depth &&
    last.present === x.present &&
    last.data === x.data &&
    last.filename === x.filename &&
    (last.offset === undefined ? x.offset === undefined : x.offset === last.offset + last.length)
  ) {
    last.length += x.length;
    return;
  }
  out.push(x);
}
