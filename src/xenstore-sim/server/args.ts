/**
 * Request argument decoding with C xenstored's exact rules, so malformed payloads get the
 * same EINVAL (or pass) as in C.
 */

/**
 * get_strings(): up to `max` NUL-terminated strings from the start of the payload. A final
 * piece without its NUL is not a string.
 */
export function getStrings(payload: Buffer, max: number): string[] {
  const out: string[] = [];
  let offset = 0;
  while (out.length < max && offset < payload.length) {
    const nul = nulIndex(payload, offset);
    if (nul < 0) break;
    out.push(payload.toString('utf8', offset, nul));
    offset = nul + 1;
  }
  return out;
}

/** onearg(): the payload must be exactly one NUL-terminated string. */
export function oneArg(payload: Buffer): string | undefined {
  if (payload.length === 0) return undefined;
  const nul = nulIndex(payload, 0);
  if (nul !== payload.length - 1) return undefined;
  return payload.toString('utf8', 0, nul);
}

/**
 * The index of the first NUL at or after `from`, or -1. A plain loop: request payloads are
 * short, and Buffer.indexOf's call into C++ costs more than scanning them here.
 */
export function nulIndex(payload: Buffer, from: number): number {
  for (let i = from; i < payload.length; i++) if (payload[i] === 0) return i;
  return -1;
}

/** xs_count_strings(): the number of NULs in the payload. */
export function countStrings(payload: Buffer): number {
  let n = 0;
  for (let i = 0; i < payload.length; i++) if (payload[i] === 0) n++;
  return n;
}

/** C atoi(): optional blanks and sign, then digits; anything else stops it (0 if none). */
export function atoi(text: string): number {
  const m = /^[ \t\n\v\f\r]*([+-]?\d+)/.exec(text);
  if (m === null) return 0;
  const n = Number(m[1]);
  // atoi of an out-of-range value is undefined in C; clamp into int32 as glibc's strtol does.
  return Math.max(-2147483648, Math.min(2147483647, n));
}

/** A value printed with %u after being held in a C unsigned int. */
export function asUnsigned(n: number): number {
  return n >>> 0;
}
