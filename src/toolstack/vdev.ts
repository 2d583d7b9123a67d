/**
 * Virtual device names to Xen device ids (docs/misc/vbd-interface.txt): the number the
 * frontend directory is named after (/local/domain/<domid>/device/vbd/<devid>).
 *
 *   xvd<letters><part>  index < 16, part < 16:  (202 << 8) | (index << 4) | part
 *                       otherwise (extended):   (1 << 28) | (index << 8) | part
 *   hd[ab]<part>        (3 << 8)  | (index << 6) | part
 *   hd[cd]<part>        (22 << 8) | ((index - 2) << 6) | part
 *   sd<letters><part>   (8 << 8)  | (index << 4) | part   (index < 16)
 *   d<index>p<part>     as xvd with a numeric index
 *   <number>            the number itself
 */

const XVD_MAJOR = 202;
const IDE0_MAJOR = 3;
const IDE1_MAJOR = 22;
const SCSI_DISK0_MAJOR = 8;
const EXTENDED = 1 << 28;
const INDEX_EXTENDED_MAX = (1 << 20) - 1;
const PART_EXTENDED_MAX = 255;

/** "a" → 0, "z" → 25, "aa" → 26 (bijective base 26, as Linux names disks). */
function lettersToIndex(letters: string): number {
  let index = 0;
  for (const c of letters) index = index * 26 + (c.charCodeAt(0) - 96);
  return index - 1;
}

function xvdId(index: number, part: number): number | undefined {
  if (index < 16 && part < 16) return (XVD_MAJOR << 8) | (index << 4) | part;
  if (index <= INDEX_EXTENDED_MAX && part <= PART_EXTENDED_MAX) return EXTENDED + index * 256 + part;
  return undefined;
}

/** The device id of a vdev name, or undefined when the name is not one Xen accepts. */
export function vdevToDevid(vdev: string): number | undefined {
  if (/^\d+$/.test(vdev)) {
    const n = Number(vdev);
    return n > 0 && n < 2 ** 31 ? n : undefined;
  }
  let m = /^xvd([a-z]{1,4})(\d{0,3})$/.exec(vdev);
  if (m) return xvdId(lettersToIndex(m[1]!), Number(m[2] || 0));
  m = /^d(\d{1,7})p(\d{1,3})$/.exec(vdev);
  if (m) return xvdId(Number(m[1]), Number(m[2]));
  m = /^hd([a-d])(\d{0,2})$/.exec(vdev);
  if (m) {
    const index = lettersToIndex(m[1]!);
    const part = Number(m[2] || 0);
    if (part >= 64) return undefined;
    return index < 2 ? (IDE0_MAJOR << 8) | (index << 6) | part : (IDE1_MAJOR << 8) | ((index - 2) << 6) | part;
  }
  m = /^sd([a-p])(\d{0,2})$/.exec(vdev);
  if (m) {
    const part = Number(m[2] || 0);
    return part < 16 ? (SCSI_DISK0_MAJOR << 8) | (lettersToIndex(m[1]!) << 4) | part : undefined;
  }
  return undefined;
}
