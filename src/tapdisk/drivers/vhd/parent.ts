/**
 * Finding a differencing disk's parent: its locators (MacX, then W2ru, then W2ku), then the
 * parent name, each relative path taken from the child's directory.
 */
import { access } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { LOCATOR_PREFERENCE, VhdErrorCode, decodeLocatorPath, locatorSpaceBytes, vhdError, type Locator } from '../../../vhd/index.js';
import { readExact } from './iov.js';
import type { VhdFile } from './vhd-file.js';

/** The largest locator we read, in bytes (a path, so a few KiB at most). */
export const LOCATOR_BYTES_MAX = 64 * 1024;

/** Candidate paths, best first, each as written in the image and resolved. */
export async function parentCandidates(child: VhdFile): Promise<string[]> {
  const header = child.header!;
  const out: string[] = [];
  for (const code of LOCATOR_PREFERENCE) {
    for (const l of header.locators) {
      if (l.code !== code) continue;
      const p = await readLocator(child, l);
      if (p !== undefined && p.length > 0) out.push(resolveFrom(child.path, p));
    }
  }
  if (header.parentName.length > 0) out.push(resolveFrom(child.path, header.parentName));
  return [...new Set(out)];
}

async function readLocator(child: VhdFile, l: Locator): Promise<string | undefined> {
  const space = locatorSpaceBytes(l);
  if (space === undefined || l.dataLength === 0 || l.dataLength > Math.min(space, LOCATOR_BYTES_MAX)) return undefined;
  return decodeLocatorPath(l.code, await readExact(child.fh, l.dataLength, l.dataOffset));
}

function resolveFrom(childPath: string, p: string): string {
  return isAbsolute(p) ? p : resolve(dirname(childPath), p);
}

/** The first candidate that exists. */
export async function findParent(child: VhdFile): Promise<string> {
  const candidates = await parentCandidates(child);
  for (const c of candidates) {
    try {
      await access(c);
      return c;
    } catch {
      // Try the next one.
    }
  }
  throw vhdError(VhdErrorCode.ParentMissing, `${child.path}: parent not found (tried ${candidates.join(', ') || 'no locator'})`, {
    path: child.path,
  });
}
