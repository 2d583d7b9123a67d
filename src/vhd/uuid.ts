/**
 * VHD unique ids: 16 raw bytes on disk, the usual 8-4-4-4-12 hex form for people. Pure.
 * Randomness comes from the Web Crypto global, not node:crypto: importing node:crypto costs
 * every command that loads the format layer several milliseconds at start-up, and only image
 * creation needs a random id.
 */

export const UUID_SIZE = 16;

export function uuidToString(bytes: Uint8Array): string {
  const hex = Buffer.from(bytes.subarray(0, UUID_SIZE)).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export function uuidIsNil(bytes: Uint8Array): boolean {
  return bytes.every((b) => b === 0);
}

export function uuidEqual(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a).equals(Buffer.from(b));
}

/** A random (version 4) uuid. Randomness is the only impure thing here; callers may pass their own. */
export function uuidRandom(): Uint8Array {
  const b = globalThis.crypto.getRandomValues(new Uint8Array(UUID_SIZE));
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  return b;
}
