import { existsSync } from 'node:fs';
import { vdevToDevid } from './vdev.js';
import { err, ok, type Result } from '../util/errors.js';

/**
 * xl's DISKSPEC (xl-disk-configuration(5)): comma-separated keyword=value pairs, flags and up to
 * four positional parameters (target, format, vdev, access). `target=` takes the rest of the
 * string, commas included, so it must come last.
 */
export type DiskFormat = 'raw' | 'vhd';
export type DiskAccess = 'rw' | 'ro';
export type DiskDevtype = 'disk' | 'cdrom';

export interface DiskSpec {
  target: string;
  format: DiskFormat;
  vdev: string;
  devid: number;
  access: DiskAccess;
  devtype: DiskDevtype;
  discard: boolean;
}

/** Formats xl knows; only some are served here. */
const KNOWN_FORMATS = ['raw', 'vhd', 'qcow', 'qcow2', 'qed', 'empty'];
const SERVED_FORMATS: readonly string[] = ['raw', 'vhd'];
const POSITIONAL = ['target', 'format', 'vdev', 'access'] as const;
const KEYS = ['format', 'vdev', 'access', 'devtype', 'backend', 'backendtype', 'script', 'direct-io-safe'];
const FLAGS = ['cdrom', 'discard', 'no-discard'];

interface Raw {
  target?: string;
  format?: string;
  vdev?: string;
  access?: string;
  devtype?: string;
  discard?: boolean;
}

/** Split into tokens and assign keyed values, flags and positionals. */
function tokenize(spec: string): Result<Raw, string> {
  const raw: Raw = {};
  const seen = new Set<string>();
  let rest = spec;
  let position = 0;
  const set = (key: string, value: string, token: string): string | undefined => {
    if (seen.has(key)) return `parameter '${key}' given twice (at '${token}')`;
    seen.add(key);
    (raw as Record<string, unknown>)[key] = value;
    return undefined;
  };
  while (rest.length > 0) {
    const trimmedStart = rest.replace(/^\s+/, '');
    if (trimmedStart.startsWith('target=')) {
      const problem = set('target', trimmedStart.slice('target='.length), 'target=');
      if (problem) return err(problem);
      break;
    }
    const comma = rest.indexOf(',');
    const token = (comma < 0 ? rest : rest.slice(0, comma)).trim();
    rest = comma < 0 ? '' : rest.slice(comma + 1);
    const eq = token.indexOf('=');
    if (eq >= 0) {
      const key = token.slice(0, eq).trim();
      const value = token.slice(eq + 1).trim();
      if (!KEYS.includes(key)) return err(`unknown parameter '${token}'`);
      const problem = set(key, value, token);
      if (problem) return err(problem);
    } else if (FLAGS.includes(token)) {
      if (token === 'cdrom') {
        const problem = set('devtype', 'cdrom', token);
        if (problem) return err(problem);
      } else raw.discard = token === 'discard';
    } else {
      while (position < POSITIONAL.length && seen.has(POSITIONAL[position]!)) position++;
      if (position >= POSITIONAL.length) return err(`unexpected positional parameter '${token}'`);
      const key = POSITIONAL[position++]!;
      if (token !== '') set(key, token, token);
      else seen.add(key);
    }
  }
  return ok(raw);
}

export interface ParseOptions {
  /** Check that the target exists (the CLI does; pure tests may not). */
  checkTarget?: (path: string) => boolean;
}

/** Parse and validate a DISKSPEC; the error names the offending token or value. */
export function parseDiskSpec(spec: string, opts: ParseOptions = {}): Result<DiskSpec, string> {
  const tokens = tokenize(spec);
  if (!tokens.ok) return tokens;
  const raw = tokens.value;
  const format = raw.format ?? 'raw';
  if (!KNOWN_FORMATS.includes(format)) return err(`unknown format '${format}'`);
  if (!SERVED_FORMATS.includes(format)) return err(`unsupported format '${format}' (splitblk serves raw and vhd)`);
  const devtype = raw.devtype ?? 'disk';
  if (devtype !== 'disk' && devtype !== 'cdrom') return err(`invalid devtype '${devtype}' (disk or cdrom)`);
  const accessWord = raw.access ?? (devtype === 'cdrom' ? 'ro' : 'rw');
  const access = ({ rw: 'rw', w: 'rw', ro: 'ro', r: 'ro' } as const)[accessWord as 'rw'];
  if (access === undefined) return err(`invalid access '${accessWord}' (rw or ro)`);
  if (raw.vdev === undefined) return err('missing vdev (e.g. vdev=xvda)');
  const devid = vdevToDevid(raw.vdev);
  if (devid === undefined) return err(`invalid vdev '${raw.vdev}'`);
  if (raw.target === undefined || raw.target === '') return err('missing target (e.g. target=/path/to/image)');
  const checkTarget = opts.checkTarget ?? existsSync;
  if (!checkTarget(raw.target)) return err(`target '${raw.target}' does not exist`);
  return ok({
    target: raw.target,
    format: format as DiskFormat,
    vdev: raw.vdev,
    devid,
    access,
    devtype,
    discard: raw.discard ?? true,
  });
}
