/**
 * Node permissions as C xenstored keeps them: a list whose first entry names the owner and
 * the access of every domain not listed; later entries give one domain's access.
 * On the wire each entry is a letter and a decimal domid ("r0", "b5"), NUL-terminated.
 */
export const PERM_NONE = 0;
export const PERM_READ = 1;
export const PERM_WRITE = 2;
export const PERM_BOTH = PERM_READ | PERM_WRITE;
/** Granted to owners and privileged callers on top of read and write. */
export const PERM_OWNER = 4;

export interface NodePerm {
  domid: number;
  /** PERM_* bits (read, write). */
  access: number;
  /**
   * Set on entries naming a domain that has since been released (C's XS_PERM_IGNORE): they
   * still print, but grant nothing, so a new domain reusing the id inherits no access.
   */
  ignored?: boolean;
}

const LETTERS = ['n', 'r', 'w', 'b'] as const;

/** "n0", "r5": the wire form of one entry (C prints the unsigned domid with %i). */
export function permToString(perm: NodePerm): string {
  return `${LETTERS[perm.access & PERM_BOTH]}${perm.domid | 0}`;
}

/** GET_PERMS reply body: every entry followed by a NUL. */
export function permsToWire(perms: readonly NodePerm[]): Buffer {
  return Buffer.from(perms.map((p) => `${permToString(p)}\0`).join(''), 'latin1');
}

/**
 * Parse one entry as xs_strings_to_perms() does: a letter w/r/b/n, then a domid read with
 * strtol(..., 0) (blanks, a sign, 0x hex and 0 octal accepted; trailing junk or no digits
 * rejected), stored in C's unsigned int. Returns undefined for a malformed entry (EINVAL).
 */
export function parsePerm(text: string): NodePerm | undefined {
  const letter = text[0];
  let access: number;
  switch (letter) {
    case 'n': access = PERM_NONE; break;
    case 'r': access = PERM_READ; break;
    case 'w': access = PERM_WRITE; break;
    case 'b': access = PERM_BOTH; break;
    default: return undefined;
  }
  const value = strtol(text.slice(1));
  if (value === undefined) return undefined;
  return { domid: Number(BigInt.asUintN(32, value)), access };
}

const LONG_MAX = (1n << 63n) - 1n;
const LONG_MIN = -(1n << 63n);

/** C strtol(s, &end, 0) that must consume the whole string; saturates like glibc. */
function strtol(s: string): bigint | undefined {
  const m = /^[ \t\n\v\f\r]*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)$/.exec(s);
  if (m === null) return undefined;
  const digits = m[2]!;
  let value = /^0[xX]/.test(digits) ? BigInt(digits) : digits.length > 1 && digits[0] === '0' ? BigInt(`0o${digits.slice(1)}`) : BigInt(digits);
  if (m[1] === '-') value = -value;
  return value > LONG_MAX ? LONG_MAX : value < LONG_MIN ? LONG_MIN : value;
}

/**
 * Access a caller has to a node with `perms` (perm_for_conn()): everything for privileged
 * callers, the owner and the owner's controlling domain (SET_TARGET); otherwise the caller's
 * own entry, else the default in entry 0.
 */
export function accessFor(perms: readonly NodePerm[], domid: number, privileged: boolean, target?: number): number {
  const owner = perms[0]!;
  if (privileged || owner.domid === domid || (target !== undefined && owner.domid === target)) {
    return PERM_BOTH | PERM_OWNER;
  }
  for (let i = 1; i < perms.length; i++) {
    const p = perms[i]!;
    if (p.ignored === true) continue;
    if (p.domid === domid || (target !== undefined && p.domid === target)) return p.access;
  }
  return owner.access;
}
