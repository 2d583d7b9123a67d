/**
 * The toolstack's description of one vbd: the nodes libxl writes in the backend directory,
 * parsed into a typed record (or a Result naming the bad key). docs/blkback.md lists the node set.
 *
 * `params` names the image as a tapdisk spec, `type:/path` (`aio:/img.raw`, `vhd:/img.vhd`, as
 * libxl writes for tap and qdisk backends). A bare path, as libxl writes for `type=phy`, means
 * the raw driver: `aio:` is prefixed. A `tapdisk:` prefix (blktap2's form) is dropped.
 */
import { err, ok, SplitblkError, type Result } from '../util/errors.js';
import { BackendKey } from './keys.js';
import { parseFlag, parseU32, type KeyReader } from './frontend-config.js';

export interface BackendConfig {
  /** Absolute path of the frontend's device directory. */
  frontendPath: string;
  frontendId: number;
  /** The tapdisk image spec, `type:/path`. */
  spec: string;
  readonly: boolean;
  cdrom: boolean;
  removable: boolean;
  /** discard-enable: the toolstack's veto on offering discard (default: offer it). */
  discardEnable: boolean;
  online: boolean;
  /** The guest's name for the disk (`dev`, e.g. xvda), for messages. */
  dev: string;
}

export const BACKEND_CONFIG_ERROR = 'SPLITBLK_ERR_BACKEND_CONFIG';

const fail = (message: string): Result<never> => err(new SplitblkError(BACKEND_CONFIG_ERROR, message));

/** Turn libxl's `params` (and `type`) into a tapdisk spec. */
export function imageSpec(params: string, type: string | undefined): string {
  let spec = params.startsWith('tapdisk:') ? params.slice('tapdisk:'.length) : params;
  if (spec.startsWith('/') || (type === 'phy' && !/^[a-z][a-z0-9_+-]*:/.test(spec))) spec = `aio:${spec}`;
  return spec;
}

export async function parseBackendConfig(read: KeyReader): Promise<Result<BackendConfig>> {
  const frontendPath = await read(BackendKey.frontend);
  if (frontendPath === undefined) return fail(`missing ${BackendKey.frontend} key`);
  if (!frontendPath.startsWith('/')) return fail(`${BackendKey.frontend} is not an absolute path`);
  const frontendId = parseU32(await read(BackendKey.frontendId));
  if (frontendId === undefined) return fail(`missing or malformed ${BackendKey.frontendId} key`);
  const params = await read(BackendKey.params);
  if (params === undefined || params === '') return fail(`missing ${BackendKey.params} key`);
  const mode = (await read(BackendKey.mode)) ?? 'r';
  return ok({
    frontendPath,
    frontendId,
    spec: imageSpec(params, await read(BackendKey.type)),
    // Linux: writable only when `mode` contains a 'w'; anything else is read-only.
    readonly: !mode.includes('w'),
    cdrom: (await read(BackendKey.deviceType)) === 'cdrom',
    removable: parseFlag(await read(BackendKey.removable), false),
    discardEnable: parseFlag(await read(BackendKey.discardEnable), true),
    online: parseFlag(await read(BackendKey.online), false),
    dev: (await read(BackendKey.dev)) ?? '',
  });
}
