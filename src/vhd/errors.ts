/** Stable error codes of the VHD format layer and driver. */
import { SplitblkError, type ErrorFields } from '../util/errors.js';

export const VhdErrorCode = {
  /** A structure's cookie is wrong: not a VHD, or not this structure. */
  BadCookie: 'SPLITBLK_ERR_VHD_COOKIE',
  /** A structure's checksum does not match its bytes. */
  BadChecksum: 'SPLITBLK_ERR_VHD_CHECKSUM',
  /** A field holds a value the format does not allow (or we do not support). */
  BadField: 'SPLITBLK_ERR_VHD_FIELD',
  /** Neither the trailing footer nor the copy at offset 0 is valid. */
  NoFooter: 'SPLITBLK_ERR_VHD_NO_FOOTER',
  /** The parent named by a differencing disk cannot be found or opened. */
  ParentMissing: 'SPLITBLK_ERR_VHD_PARENT_MISSING',
  /** The parent's unique id is not the one the child recorded. */
  ParentUuid: 'SPLITBLK_ERR_VHD_PARENT_UUID',
  /** The chain is deeper than the configured limit (or loops). */
  ChainDepth: 'SPLITBLK_ERR_CHAIN_DEPTH',
  /** A metadata structure points outside the file or overlaps another. */
  Corrupt: 'SPLITBLK_ERR_VHD_CORRUPT',
} as const;

export function vhdError(code: string, message: string, fields: ErrorFields = {}): SplitblkError {
  return new SplitblkError(code, message, fields);
}
