/**
 * Operating errors carry a stable `code` (SPLITBLK_ERR_*) plus structured fields, so callers
 * branch on the code and scripts can print or match it; the message is for people.
 */
export interface ErrorFields {
  domid?: number;
  devid?: number;
  sector?: number;
  path?: string;
  errno?: number;
  [key: string]: unknown;
}

export class SplitblkError extends Error {
  override name = 'SplitblkError';
  readonly code: string;
  readonly fields: ErrorFields;

  constructor(code: string, message: string, fields: ErrorFields = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.fields = fields;
  }
}

/** A `Result` for expected failures on paths where throwing would hide the error case. */
export type Result<T, E = SplitblkError> = { ok: true; value: T } | { ok: false; error: E };

export const ok = <T>(value: T): Result<T, never> => ({ ok: true, value });
export const err = <E>(error: E): Result<never, E> => ({ ok: false, error });
