import * as fs from 'node:fs';

export interface BlockDeviceGeometry {
  bytes: number;
  logicalSectorSize: number;
  physicalSectorSize: number;
}

/** Split a dev_t as glibc's gnu_dev_major/gnu_dev_minor do. */
function majorMinor(rdev: number): [number, number] {
  const dev = BigInt(rdev);
  const major = Number(((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn));
  const minor = Number((dev & 0xffn) | ((dev >> 12n) & ~0xffn));
  return [major, minor];
}

function readNumber(path: string): number | undefined {
  try {
    const n = Number(fs.readFileSync(path, 'utf8').trim());
    return Number.isSafeInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A block device's size and sector sizes from sysfs (Node has no BLKGETSIZE64 ioctl). `size` is
 * always in 512-byte units; a partition has no queue/ directory of its own, so its parent's is
 * used.
 */
export function blockDeviceGeometry(rdev: number): BlockDeviceGeometry {
  const [major, minor] = majorMinor(rdev);
  const dir = `/sys/dev/block/${major}:${minor}`;
  const sectors = readNumber(`${dir}/size`) ?? 0;
  const queue = fs.existsSync(`${dir}/queue`) ? `${dir}/queue` : `${dir}/../queue`;
  return {
    bytes: sectors * 512,
    logicalSectorSize: readNumber(`${queue}/logical_block_size`) ?? 512,
    physicalSectorSize: readNumber(`${queue}/physical_block_size`) ?? 512,
  };
}
