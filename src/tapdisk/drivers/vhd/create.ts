/**
 * Creating images: fixed, dynamic, and differencing on a VHD or raw parent. The bytes come from
 * the pure format layer; this file only decides the values and writes them.
 */
import { open, stat } from 'node:fs/promises';
import { dirname, relative, resolve } from 'node:path';
import {
  BATMAP_VERSION_CURRENT,
  BAT_UNUSED,
  BLOCK_SIZE_DEFAULT,
  DiskType,
  FOOTER_SIZE,
  HEADER_VERSION,
  PLAT_CODE_MACX,
  PLAT_CODE_W2KU,
  PLAT_CODE_W2RU,
  VHD_SECTOR_SIZE,
  VhdErrorCode,
  batmapChecksum,
  dynamicLayout,
  encodeBat,
  encodeBatmapHeader,
  encodeFooter,
  encodeHeader,
  encodeLocatorPath,
  newFooter,
  uuidRandom,
  vhdError,
  vhdTimeFromDate,
  type Locator,
} from '../../../vhd/index.js';
import { SplitblkError } from '../../../util/errors.js';
import { writeFull } from './iov.js';
import { VhdFile } from './vhd-file.js';

export interface CreateVhdOptions {
  path: string;
  type: 'fixed' | 'dynamic' | 'differencing';
  /** Virtual size in bytes (rounded up to 512). Differencing: defaults to the parent's size. */
  size?: number;
  /** Power of two, 512 bytes to 2 GiB... in practice 4 KiB..2 MiB; default 2 MiB. */
  blockSize?: number;
  /** Differencing: the parent's path, and whether it is a raw file rather than a VHD. */
  parent?: string;
  parentRaw?: boolean;
  /** Refuse to replace an existing file (default true). */
  exclusive?: boolean;
  uuid?: Uint8Array;
  now?: Date;
}

export interface CreatedVhd {
  path: string;
  size: number;
  uuid: Uint8Array;
}

export async function createVhd(opts: CreateVhdOptions): Promise<CreatedVhd> {
  const uuid = opts.uuid ?? uuidRandom();
  const timestamp = vhdTimeFromDate(opts.now ?? new Date());
  const blockSize = opts.blockSize ?? BLOCK_SIZE_DEFAULT;
  if (blockSize < VHD_SECTOR_SIZE || (blockSize & (blockSize - 1)) !== 0 || blockSize > 2 ** 31) {
    throw vhdError(VhdErrorCode.BadField, `block size ${blockSize} is not a power of two between 512 bytes and 2 GiB`);
  }
  const parent = opts.type === 'differencing' ? await describeParent(opts) : undefined;
  const rawSize = opts.size ?? parent?.size;
  if (rawSize === undefined || rawSize <= 0) throw vhdError(VhdErrorCode.BadField, 'a size is needed');
  const size = Math.ceil(rawSize / VHD_SECTOR_SIZE) * VHD_SECTOR_SIZE;
  const fh = await open(opts.path, opts.exclusive === false ? 'w' : 'wx').catch((e: NodeJS.ErrnoException) => {
    throw new SplitblkError('SPLITBLK_ERR_CREATE', `${opts.path}: ${e.message}`, { path: opts.path, errno: e.errno });
  });
  try {
    if (opts.type === 'fixed') {
      const footer = newFooter({ size, diskType: DiskType.Fixed, uuid, timestamp, dataOffset: undefined });
      await fh.truncate(size);
      await writeFull(fh, encodeFooter(footer), size);
    } else {
      const locs = parent ? parentLocatorData(opts.path, parent.path) : [];
      const layout = dynamicLayout(size, blockSize, locs.map((l) => l.data.length));
      const diskType = parent ? DiskType.Differencing : DiskType.Dynamic;
      const footer = encodeFooter(newFooter({ size, diskType, uuid, timestamp, dataOffset: layout.headerOffset }));
      const locators: Locator[] = locs.map((l, i) => ({
        code: l.code,
        dataSpace: layout.locators[i]!.spaceBytes / VHD_SECTOR_SIZE,
        dataLength: l.data.length,
        dataOffset: layout.locators[i]!.offset,
      }));
      const header = encodeHeader({
        tableOffset: layout.tableOffset,
        headerVersion: HEADER_VERSION,
        maxTableEntries: layout.maxTableEntries,
        blockSize,
        checksum: 0,
        parentUuid: parent?.uuid ?? new Uint8Array(16),
        parentTimestamp: parent?.timestamp ?? 0,
        parentName: parent ? relative(dirname(resolve(opts.path)), parent.path) : '',
        locators,
      });
      const map = new Uint8Array(layout.batmapSectors * VHD_SECTOR_SIZE);
      const batmapHeader = encodeBatmapHeader({
        batmapOffset: layout.batmapOffset,
        batmapSize: layout.batmapSectors,
        batmapVersion: BATMAP_VERSION_CURRENT,
        checksum: batmapChecksum(map, BATMAP_VERSION_CURRENT),
        marker: 0,
      });
      await writeFull(fh, footer, 0);
      await writeFull(fh, header, layout.headerOffset);
      await writeFull(fh, encodeBat(new Uint32Array(layout.maxTableEntries).fill(BAT_UNUSED)), layout.tableOffset);
      await writeFull(fh, batmapHeader, layout.batmapHeaderOffset);
      await writeFull(fh, map, layout.batmapOffset);
      for (let i = 0; i < locs.length; i++) await writeFull(fh, locs[i]!.data, layout.locators[i]!.offset);
      await writeFull(fh, footer, layout.metadataEnd);
      await fh.truncate(layout.metadataEnd + FOOTER_SIZE);
    }
    await fh.datasync();
  } finally {
    await fh.close();
  }
  return { path: opts.path, size, uuid };
}

interface ParentInfo {
  path: string;
  size: number;
  uuid: Uint8Array;
  timestamp: number;
}

async function describeParent(opts: CreateVhdOptions): Promise<ParentInfo> {
  if (opts.parent === undefined) throw vhdError(VhdErrorCode.BadField, 'a differencing disk needs a parent');
  const path = resolve(opts.parent);
  const st = await stat(path).catch(() => {
    throw vhdError(VhdErrorCode.ParentMissing, `${path}: no such parent`, { path });
  });
  const timestamp = vhdTimeFromDate(st.mtime);
  if (opts.parentRaw) return { path, size: st.size, uuid: new Uint8Array(16), timestamp };
  const vhd = await VhdFile.open(path, false);
  try {
    return { path, size: vhd.sizeBytes, uuid: vhd.footer.uuid, timestamp };
  } finally {
    await vhd.close();
  }
}

/** MacX and W2ru with the path relative to the child's directory, W2ku absolute. */
function parentLocatorData(childPath: string, parentPath: string): { code: number; data: Uint8Array }[] {
  let rel = relative(dirname(resolve(childPath)), parentPath);
  if (!rel.startsWith('.')) rel = `./${rel}`;
  return [
    { code: PLAT_CODE_MACX, data: encodeLocatorPath(PLAT_CODE_MACX, rel) },
    { code: PLAT_CODE_W2RU, data: encodeLocatorPath(PLAT_CODE_W2RU, rel) },
    { code: PLAT_CODE_W2KU, data: encodeLocatorPath(PLAT_CODE_W2KU, parentPath) },
  ];
}

