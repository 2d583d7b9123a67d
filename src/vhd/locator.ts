/**
 * Parent locator data: where a differencing disk says its parent lives. Pure.
 *
 *  - 'MacX': a file URL in UTF-8 ("file://./base.vhd" or "file:///abs/base.vhd");
 *  - 'W2ku' / 'W2ru': an absolute / relative Windows path in UTF-16LE.
 *
 * The specification puts `data_space` in sectors, but Microsoft's tools have written bytes;
 * libvhd reads a value below 512 as sectors and a multiple of 512 as bytes, and so do we.
 */
import { PLAT_CODE_MACX, PLAT_CODE_NONE, PLAT_CODE_W2KU, PLAT_CODE_W2RU, VHD_SECTOR_SIZE } from './constants.js';
import type { Locator } from './header.js';

/** Bytes reserved for a locator's data, or undefined when `data_space` is neither unit. */
export function locatorSpaceBytes(l: Locator): number | undefined {
  if (l.dataSpace < VHD_SECTOR_SIZE) return l.dataSpace * VHD_SECTOR_SIZE;
  if (l.dataSpace % VHD_SECTOR_SIZE === 0) return l.dataSpace;
  return undefined;
}

/** Decode a locator's data into a path, or undefined for codes we do not read. */
export function decodeLocatorPath(code: number, data: Uint8Array): string | undefined {
  switch (code) {
    case PLAT_CODE_MACX: {
      const text = Buffer.from(data).toString('utf8').replace(/\0+$/, '');
      return text.startsWith('file://') ? decodeURI(text.slice('file://'.length)) : text;
    }
    case PLAT_CODE_W2KU:
    case PLAT_CODE_W2RU:
      return Buffer.from(data).toString('utf16le').replace(/\0+$/, '').replace(/\\/g, '/');
    default:
      return undefined;
  }
}

/** Encode a path for a locator code (MacX as a file URL; W2ku/W2ru as UTF-16LE). */
export function encodeLocatorPath(code: number, path: string): Uint8Array {
  switch (code) {
    case PLAT_CODE_MACX:
      return new Uint8Array(Buffer.from(`file://${encodeURI(path)}`, 'utf8'));
    case PLAT_CODE_W2KU:
    case PLAT_CODE_W2RU:
      return new Uint8Array(Buffer.from(path, 'utf16le'));
    default:
      return new Uint8Array(0);
  }
}

/** Preference order when resolving a parent: relative forms first, so chains can move. */
export const LOCATOR_PREFERENCE = [PLAT_CODE_MACX, PLAT_CODE_W2RU, PLAT_CODE_W2KU];

export function isUsedLocator(l: Locator): boolean {
  return l.code !== PLAT_CODE_NONE;
}
