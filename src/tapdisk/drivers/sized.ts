import { err, ok, SplitblkError, type Result } from '../../util/errors.js';
import type { DiskSpec } from '../api.js';
import { ERR_BAD_SPEC } from '../errors.js';
import { parseSize, sectorSizeParam } from '../spec.js';

/** Size and sector size of a memory-backed image: `null:1G`, `ram:64M?sector-size=4096`. */
export interface SizedSpec {
  bytes: number;
  sectorSize: number;
}

/** Parse the size in the path of `null:` and `ram:` specs (`defaultBytes` when empty). */
export function parseSizedSpec(spec: DiskSpec, defaultBytes: number, bytesMax: number): Result<SizedSpec> {
  const text = spec.path.replace(/^\/+/, '');
  const bytes = text === '' ? defaultBytes : parseSize(text);
  const sectorSize = sectorSizeParam(spec);
  if (!sectorSize.ok) return sectorSize;
  if (bytes === undefined || bytes <= 0 || bytes > bytesMax || bytes % sectorSize.value !== 0) {
    return err(new SplitblkError(ERR_BAD_SPEC,
      `${spec.type}: size must be a positive multiple of ${sectorSize.value} bytes up to ${bytesMax}, e.g. ${spec.type}:64M; got ${JSON.stringify(spec.path)}`,
      { spec: spec.text }));
  }
  return ok({ bytes, sectorSize: sectorSize.value });
}
