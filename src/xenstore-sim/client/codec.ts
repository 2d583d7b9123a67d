/**
 * Request payloads and reply decoding for the client, pure functions over the wire forms of
 * docs/misc/xenstore.txt. Reply payloads are parsed here, at the boundary, into typed values;
 * a malformed reply is a protocol error, never a crash.
 */
import { splitNul } from '../wire/serializer.js';
import type { XsPerm } from './api.js';
import { protocolError } from './errors.js';

const PERM_LETTERS = new Set(['n', 'r', 'w', 'b']);
const DOMID_MAX = 0xffff;

/** "r0" -> { domid: 0, perm: 'r' }; undefined when malformed. */
export function parsePerm(text: string): XsPerm | undefined {
  const letter = text[0];
  if (letter === undefined || !PERM_LETTERS.has(letter)) return undefined;
  const digits = text.slice(1);
  if (!/^\d{1,5}$/.test(digits)) return undefined;
  const domid = Number(digits);
  if (domid > DOMID_MAX) return undefined;
  return { domid, perm: letter as XsPerm['perm'] };
}

export function formatPerm(perm: XsPerm): string {
  return `${perm.perm}${perm.domid}`;
}

/** The GET_PERMS reply "b0\0r5\0" as a list, owner first. */
export function decodePerms(payload: Buffer, path: string): XsPerm[] {
  const perms: XsPerm[] = [];
  for (const text of splitNul(payload)) {
    const perm = parsePerm(text);
    if (perm === undefined) throw protocolError(`bad permission ${JSON.stringify(text)} for ${path}`, { path });
    perms.push(perm);
  }
  if (perms.length === 0) throw protocolError(`empty permission list for ${path}`, { path });
  return perms;
}

/** A reply that is one NUL-terminated string ("OK\0", "7\0", "/local/domain/3\0"). */
export function decodeString(payload: Buffer): string {
  const end = payload.length > 0 && payload[payload.length - 1] === 0 ? payload.length - 1 : payload.length;
  return payload.toString('utf8', 0, end);
}

/** A reply that is a decimal u32 ("7\0"), such as TRANSACTION_START's transaction id. */
export function decodeU32(payload: Buffer, what: string): number {
  const text = decodeString(payload);
  if (!/^\d{1,10}$/.test(text) || Number(text) > 0xffffffff) throw protocolError(`bad ${what} ${JSON.stringify(text)}`);
  return Number(text);
}

/** "T\0" / "F\0" (IS_DOMAIN_INTRODUCED). */
export function decodeBool(payload: Buffer, what: string): boolean {
  const text = decodeString(payload);
  if (text === 'T') return true;
  if (text === 'F') return false;
  throw protocolError(`bad ${what} reply ${JSON.stringify(text)}`);
}

/** A watch event "path\0token\0" (the token may itself be empty). */
export function decodeWatchEvent(payload: Buffer): { path: string; token: string } | undefined {
  const first = payload.indexOf(0);
  if (first < 0) return undefined;
  const second = payload.indexOf(0, first + 1);
  const end = second < 0 ? payload.length : second;
  return { path: payload.toString('utf8', 0, first), token: payload.toString('utf8', first + 1, end) };
}

/** One XS_DIRECTORY_PART reply: "<generation>\0" then children, each NUL-terminated; an empty child ends the list. */
export interface DirectoryPart {
  generation: string;
  children: string[];
  /** Bytes of child data in this part (the offset to ask for next). */
  bytes: number;
  done: boolean;
}

export function decodeDirectoryPart(payload: Buffer, path: string): DirectoryPart {
  const genEnd = payload.indexOf(0);
  if (genEnd < 0) throw protocolError(`DIRECTORY_PART reply without generation for ${path}`, { path });
  const generation = payload.toString('utf8', 0, genEnd);
  const children: string[] = [];
  let start = genEnd + 1;
  let done = false;
  while (start < payload.length) {
    const end = payload.indexOf(0, start);
    if (end < 0) throw protocolError(`unterminated DIRECTORY_PART entry for ${path}`, { path });
    if (end === start) {
      done = true;
      break;
    }
    children.push(payload.toString('utf8', start, end));
    start = end + 1;
  }
  return { generation, children, bytes: start - (genEnd + 1), done };
}
