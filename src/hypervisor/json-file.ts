import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { isErrno } from './errors.js';
import { RunDir } from './rundir.js';

/**
 * Small JSON records of the run directory (info, start-info): written to a temporary name and
 * renamed over the old one, so a reader sees the whole old record or the whole new one.
 * One line, keys in a fixed order, so that a C reader can scan for `"key":`.
 */
export function writeJsonAtomic(path: string, value: unknown): void {
  const temporary = RunDir.temporary(path);
  writeFileSync(temporary, `${JSON.stringify(value)}\n`, { mode: 0o644 });
  renameSync(temporary, path);
}

/** The parsed record, or undefined when the file does not exist or is not JSON. */
export function readJson(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if (isErrno(error, 'ENOENT') || isErrno(error, 'ENOTDIR')) return undefined;
    throw error;
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

export const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

export const uint = (value: unknown): number | undefined =>
  typeof value === 'number' && Number.isInteger(value) && value >= 0 ? value : undefined;
