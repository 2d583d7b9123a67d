/**
 * The VHD checksum: the one's complement of the sum of all bytes of a structure, taken with the
 * checksum field itself counted as zero (VHD specification, "Checksum"). Pure.
 */

/** Sum `buf` as unsigned bytes, skipping [skipAt, skipAt+skipLen), and return ~sum as a u32. */
export function onesComplementChecksum(buf: Uint8Array, skipAt = -1, skipLen = 0): number {
  let sum = 0;
  for (let i = 0; i < buf.length; i++) {
    if (i >= skipAt && i < skipAt + skipLen) continue;
    sum = (sum + buf[i]!) >>> 0;
  }
  return ~sum >>> 0;
}
