import { XENSTORE_ABS_PATH_MAX, XS_INTRODUCE_DOMAIN_PATH, XS_RELEASE_DOMAIN_PATH } from '../wire/messages.js';

/** The characters C xenstored 4.17 accepts in a node name (valid_chars()): A-Z a-z 0-9 / _ @ -, by char code. */
const VALID_CHAR = (() => {
  const table = new Uint8Array(128);
  for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/_@-') table[c.charCodeAt(0)] = 1;
  return table;
})();
const SLASH = 0x2f;
const AT = 0x40;
/** "/local/domain/<id>/": the part C does not count against the path-length quota. */
const LOCAL_PREFIX = /^\/local\/domain\/(\d{1,5})\//;

/** The home directory of a domain, where its relative paths resolve. */
export function domainPath(domid: number): string {
  return `/local/domain/${domid}`;
}

/** Special watch paths; only these two fire (other "@..." watches are accepted but silent). */
export function isSpecialPath(path: string): boolean {
  return path === XS_INTRODUCE_DOMAIN_PATH || path === XS_RELEASE_DOMAIN_PATH;
}

/**
 * Resolve a client path: absolute paths stay, relative ones go under the caller's home
 * (canonicalize() in C).
 */
export function canonicalize(path: string, domid: number): string {
  // "@..." names stay as given: valid only where special names are (watches, SET_PERMS).
  if (path.startsWith('/') || path.startsWith('@')) return path;
  return `${domainPath(domid)}/${path}`;
}

/**
 * is_valid_nodename() of C xenstored 4.17: starts with "/" (or "@" when special names are
 * allowed), no trailing "/" except the root, no "//", only valid characters, at most
 * XENSTORE_ABS_PATH_MAX bytes, and at most `pathMax` bytes not counting a leading
 * "/local/domain/<id>/" (C 4.17 applies this one to dom0 too).
 */
export function isValidPath(path: string, allowSpecial: boolean, pathMax: number | undefined): boolean {
  const length = path.length;
  if (length > XENSTORE_ABS_PATH_MAX) return false;
  const first = path.charCodeAt(0);
  if (first !== SLASH && !(allowSpecial && first === AT)) return false;
  if (length > 1 && path.charCodeAt(length - 1) === SLASH) return false;
  // One pass for the character set and "//" (every request's path goes through here).
  let previous = 0;
  for (let i = 0; i < length; i++) {
    const c = path.charCodeAt(i);
    if (c >= 128 || VALID_CHAR[c] === 0) return false;
    if (c === SLASH && previous === SLASH) return false;
    previous = c;
  }
  // All characters are ASCII now, so length is the byte count; the prefix only lowers it.
  if (pathMax !== undefined && length > pathMax) {
    const local = LOCAL_PREFIX.exec(path);
    const counted = length - (local === null ? 0 : local[0].length);
    if (counted > pathMax) return false;
  }
  return true;
}

/** The parent of an absolute node path ("/" for "/a"; "/" for "/"). */
export function parentPath(path: string): string {
  const slash = lastSlashBefore(path, path.length);
  return slash <= 0 ? '/' : path.slice(0, slash);
}

/**
 * The index of the last "/" before index `end` of `path`, or -1: lastIndexOf('/', end - 1) as
 * a loop the JIT compiles inline (String.prototype.lastIndexOf calls into the runtime, and
 * every WRITE looks up its path's ancestors).
 */
export function lastSlashBefore(path: string, end: number): number {
  let i = end - 1;
  while (i >= 0 && path.charCodeAt(i) !== SLASH) i--;
  return i;
}

export function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

export function childPath(parent: string, child: string): string {
  return parent === '/' ? `/${child}` : `${parent}/${child}`;
}

/** True when `path` is `ancestor` or lies below it (is_child() in C). */
export function isSameOrBelow(path: string, ancestor: string): boolean {
  if (ancestor === '/') return path.startsWith('/');
  return path === ancestor || (path.startsWith(ancestor) && path.charCodeAt(ancestor.length) === 0x2f);
}
