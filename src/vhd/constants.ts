/** VHD constants (Microsoft's VHD specification; libvhd's vhd.h for the tapdisk extensions). */

export const VHD_SECTOR_SIZE = 512;
export const VHD_SECTOR_SHIFT = 9;

export const FOOTER_SIZE = 512;
export const HEADER_SIZE = 1024;

export const FOOTER_COOKIE = 'conectix';
export const HEADER_COOKIE = 'cxsparse';
export const BATMAP_COOKIE = 'tdbatmap';

/** Footer `features`: bit 1 is reserved and must always be set. */
export const FEATURES_NONE = 0x0000_0000;
export const FEATURES_TEMPORARY = 0x0000_0001;
export const FEATURES_RESERVED = 0x0000_0002;

/** Footer `file format version` and header `header version`: 1.0. */
export const FILE_FORMAT_VERSION = 0x0001_0000;
export const HEADER_VERSION = 0x0001_0000;

/** u64 "no next structure" (a fixed disk's data offset, the header's data offset). */
export const U64_NONE = 0xffff_ffff_ffff_ffffn;

/** Footer `disk type`. */
export const enum DiskType {
  None = 0,
  Fixed = 2,
  Dynamic = 3,
  Differencing = 4,
}

export function diskTypeFromWire(n: number): DiskType | undefined {
  return n === DiskType.Fixed || n === DiskType.Dynamic || n === DiskType.Differencing ? n : undefined;
}

export function diskTypeName(t: DiskType): 'fixed' | 'dynamic' | 'differencing' | 'none' {
  switch (t) {
    case DiskType.Fixed:
      return 'fixed';
    case DiskType.Dynamic:
      return 'dynamic';
    case DiskType.Differencing:
      return 'differencing';
    default:
      return 'none';
  }
}

/** Creator application 'tap\0' (XenServer tapdisk): qemu then takes current_size as the size. */
export const CREATOR_TAP = Uint8Array.of(0x74, 0x61, 0x70, 0x00);
/** Creator version 1.3 (libvhd's VHD_CURRENT_VERSION): big-endian bitmaps, a batmap. */
export const CREATOR_VERSION_TAP = 0x0001_0003;
/** Creator host OS 'Wi2k'. */
export const HOST_OS_WI2K = 0x5769_326b;

/** Parent locator platform codes. */
export const PLAT_CODE_NONE = 0x0000_0000;
export const PLAT_CODE_WI2R = 0x5769_3272; // 'Wi2r', deprecated
export const PLAT_CODE_WI2K = 0x5769_326b; // 'Wi2k', deprecated
export const PLAT_CODE_W2RU = 0x5732_7275; // 'W2ru': relative path, UTF-16LE
export const PLAT_CODE_W2KU = 0x5732_6b75; // 'W2ku': absolute path, UTF-16LE
export const PLAT_CODE_MAC = 0x4d61_6320; // 'Mac ': a MacOS alias blob
export const PLAT_CODE_MACX = 0x4d61_6358; // 'MacX': file URL, UTF-8

/** BAT entry of an unallocated block (DD_BLK_UNUSED). */
export const BAT_UNUSED = 0xffff_ffff;

/** The default block size, 2 MiB (DD_BLOCKSIZE_DEFAULT). */
export const BLOCK_SIZE_DEFAULT = 2 * 1024 * 1024;

/** Batmap version 1.2: an unsigned byte checksum (1.1 summed signed chars). */
export const BATMAP_VERSION_1_1 = 0x0001_0001;
export const BATMAP_VERSION_CURRENT = 0x0001_0002;

/** Timestamps count seconds from 2000-01-01T00:00:00Z. */
export const VHD_EPOCH_MS = Date.UTC(2000, 0, 1);

/** The page the data area of each block is aligned to, as tapdisk does. */
export const DATA_ALIGN_BYTES = 4096;

/** The largest disk CHS can describe: 65535 cylinders x 16 heads x 255 sectors. */
export const CHS_SECTORS_MAX = 65535 * 16 * 255;
