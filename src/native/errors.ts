import { SplitblkError, type ErrorFields } from '../util/errors.js';
import type { RawError } from './binding.js';

/**
 * Turns an error thrown by the addon into a SplitblkError. Errors that already carry a
 * SPLITBLK_ERR_* code keep it; system-call failures get `fallbackCode`, with errno, syscall
 * and path as fields. Anything else (a TypeError from a wrong argument: our own bug) is
 * rethrown unchanged.
 */
export function fromNative(error: unknown, fallbackCode: string, fields: ErrorFields = {}): Error {
  if (!(error instanceof Error)) return new SplitblkError(fallbackCode, String(error), fields);
  const raw = error as RawError;
  const merged: ErrorFields = { ...fields };
  if (raw.errno !== undefined) merged.errno = raw.errno;
  if (raw.syscall !== undefined) merged.syscall = raw.syscall;
  if (raw.path !== undefined) merged.path = raw.path;
  for (const key of ['page', 'index'] as const) {
    const value = (raw as unknown as Record<string, unknown>)[key];
    if (value !== undefined) merged[key] = value;
  }
  if (raw.code?.startsWith('SPLITBLK_ERR_')) return new SplitblkError(raw.code, raw.message, merged, { cause: error });
  if (raw.errno !== undefined) {
    return new SplitblkError(fallbackCode, raw.message, { ...merged, errnoCode: raw.code }, { cause: error });
  }
  return error;
}
