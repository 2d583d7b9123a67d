/** What the crash writer writes where: shared by the writer and the test that checks it. */
import { prng } from './helpers.js';

export const SLOT_BYTES = 64 * 1024;

/** Slot numbers in a seeded random order: write i goes to slot order[i]. */
export function slotOrder(diskBytes: number, seed: number): number[] {
  const n = Math.floor(diskBytes / SLOT_BYTES);
  const order = Array.from({ length: n }, (_, i) => i);
  const rnd = prng(seed);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order;
}

/** Write i's bytes: each sector starts with (i, sector) and is filled with a byte of i. */
export function slotContent(i: number): Uint8Array {
  const buf = new Uint8Array(SLOT_BYTES).fill((i * 7 + 1) & 0xff);
  const view = new DataView(buf.buffer);
  for (let s = 0; s < SLOT_BYTES / 512; s++) {
    view.setUint32(s * 512, i);
    view.setUint32(s * 512 + 4, s);
  }
  return buf;
}
