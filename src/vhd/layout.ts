/**
 * Where things go in a dynamic or differencing VHD that splitblk creates, and where the next
 * block goes. Pure arithmetic.
 *
 *   0                      footer copy (512)
 *   512                    dynamic header (1024)
 *   1536                   BAT (padded to sectors)
 *   after the BAT          batmap header (1 sector), batmap (padded to sectors)
 *   then                   parent locator data, each padded to sectors
 *   then                   blocks: bitmap sectors, then data whose first byte is page-aligned
 *   EOF - 512              footer
 */
import { batBytes } from './bat.js';
import { batmapHeaderOffset, batmapSectors } from './batmap.js';
import { DATA_ALIGN_BYTES, FOOTER_SIZE, HEADER_SIZE, VHD_SECTOR_SIZE } from './constants.js';

export interface DynamicLayout {
  headerOffset: number;
  tableOffset: number;
  maxTableEntries: number;
  batmapHeaderOffset: number;
  batmapOffset: number;
  batmapSectors: number;
  /** Byte offset and reserved bytes of each locator's data, in the order asked for. */
  locators: { offset: number; spaceBytes: number }[];
  /** Where the metadata ends (bytes): the first block may start here or later. */
  metadataEnd: number;
}

export function dynamicLayout(sizeBytes: number, blockSize: number, locatorBytes: number[]): DynamicLayout {
  const headerOffset = FOOTER_SIZE;
  const tableOffset = headerOffset + HEADER_SIZE;
  const maxTableEntries = Math.ceil(sizeBytes / blockSize);
  const bmHdr = batmapHeaderOffset(tableOffset, maxTableEntries);
  const batmapOffset = bmHdr + VHD_SECTOR_SIZE;
  const bmSecs = batmapSectors(maxTableEntries);
  let at = batmapOffset + bmSecs * VHD_SECTOR_SIZE;
  const locators = locatorBytes.map((n) => {
    const spaceBytes = Math.max(1, Math.ceil(n / VHD_SECTOR_SIZE)) * VHD_SECTOR_SIZE;
    const l = { offset: at, spaceBytes };
    at += spaceBytes;
    return l;
  });
  return { headerOffset, tableOffset, maxTableEntries, batmapHeaderOffset: bmHdr, batmapOffset, batmapSectors: bmSecs, locators, metadataEnd: at };
}

/**
 * The sector at which to place a new block at or after `endSector` so that its data (which
 * follows `bitmapSecs` bitmap sectors) starts on a page boundary, as tapdisk does.
 */
export function alignedBlockSector(endSector: number, bitmapSecs: number): number {
  const spp = DATA_ALIGN_BYTES / VHD_SECTOR_SIZE;
  const rem = (endSector + bitmapSecs) % spp;
  return rem === 0 ? endSector : endSector + (spp - rem);
}

/** Bytes of the BAT for a layout (re-exported for callers that only import layout). */
export { batBytes };
