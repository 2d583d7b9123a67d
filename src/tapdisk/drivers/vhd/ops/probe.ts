/** Is a file a VHD? Looks for a "conectix" cookie in the trailing footer or the copy at 0. */
import { open } from 'node:fs/promises';
import { FOOTER_COOKIE, FOOTER_SIZE } from '../../../../vhd/index.js';
import { readExact } from '../iov.js';

export async function looksLikeVhd(path: string): Promise<boolean> {
  const fh = await open(path, 'r');
  try {
    const size = (await fh.stat()).size;
    if (size < FOOTER_SIZE) return false;
    const cookie = (b: Uint8Array) => Buffer.from(b.subarray(0, 8)).toString('latin1') === FOOTER_COOKIE;
    return cookie(await readExact(fh, FOOTER_SIZE, size - FOOTER_SIZE)) || cookie(await readExact(fh, FOOTER_SIZE, 0));
  } finally {
    await fh.close();
  }
}
