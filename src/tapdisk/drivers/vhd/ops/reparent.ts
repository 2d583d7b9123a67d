/**
 * Re-parent a differencing disk: point it at a new parent (after its old parent was coalesced
 * into that one). Rewrites the parent id, timestamp, name and the locators' data in the space
 * each locator already has; refuses when a new path does not fit. Offline, or with every
 * user of the disk paused.
 */
import { stat } from 'node:fs/promises';
import { dirname, relative, resolve } from 'node:path';
import {
  HEADER_SIZE,
  VhdErrorCode,
  encodeHeader,
  encodeLocatorPath,
  locatorSpaceBytes,
  PARENT_NAME_UNITS_MAX,
  PLAT_CODE_W2KU,
  vhdError,
  vhdTimeFromDate,
  type Locator,
} from '../../../../vhd/index.js';
import { writeFull } from '../iov.js';
import { VhdFile } from '../vhd-file.js';
import { looksLikeVhd } from './probe.js';

/** The new locators (and their data) for `childPath` naming `parentPath`, checked to fit. */
function relocate(child: VhdFile, parentPath: string): { locators: Locator[]; data: (Uint8Array | undefined)[] } {
  let rel = relative(dirname(resolve(child.path)), parentPath);
  if (!rel.startsWith('.')) rel = `./${rel}`;
  const data: (Uint8Array | undefined)[] = [];
  const locators = child.header!.locators.map((l) => {
    if (l.code === 0) {
      data.push(undefined);
      return l;
    }
    const bytes = encodeLocatorPath(l.code, l.code === PLAT_CODE_W2KU ? parentPath : rel);
    const space = locatorSpaceBytes(l);
    if (bytes.length === 0) {
      data.push(undefined);
      return { ...l, code: 0, dataLength: 0 };
    }
    if (space === undefined || bytes.length > space) {
      // The locator's space was sized for the old path: drop this locator; the others and the
      // parent name still lead to the parent.
      data.push(undefined);
      return { ...l, code: 0, dataLength: 0 };
    }
    data.push(bytes);
    return { ...l, dataLength: bytes.length };
  });
  if (rel.length > PARENT_NAME_UNITS_MAX) throw vhdError(VhdErrorCode.BadField, `${child.path}: the path of ${parentPath} is too long for the parent name`);
  return { locators, data };
}

/** Check that re-parenting would succeed, without writing. */
export async function canReparent(childPath: string, parentPath: string): Promise<void> {
  const child = await VhdFile.open(childPath, false);
  try {
    relocate(child, resolve(parentPath));
  } finally {
    await child.close();
  }
}

export async function reparentVhd(childPath: string, newParentPath: string): Promise<void> {
  const parentPath = resolve(newParentPath);
  let uuid: Uint8Array = new Uint8Array(16); // a nil parent id names a raw parent
  if (await looksLikeVhd(parentPath)) {
    const parent = await VhdFile.open(parentPath, false);
    uuid = parent.footer.uuid;
    await parent.close();
  }
  const child = await VhdFile.open(childPath, true);
  try {
    const { locators, data } = relocate(child, parentPath);
    for (let i = 0; i < locators.length; i++) {
      const bytes = data[i];
      if (bytes !== undefined) await writeFull(child.fh, bytes, locators[i]!.dataOffset);
    }
    const header = encodeHeader({
      ...child.header!,
      parentUuid: uuid,
      parentTimestamp: vhdTimeFromDate((await stat(parentPath)).mtime),
      parentName: relative(dirname(resolve(childPath)), parentPath),
      locators,
    });
    await writeFull(child.fh, header.subarray(0, HEADER_SIZE), child.footer.dataOffset!);
    await child.fh.datasync();
  } finally {
    await child.close();
  }
}
