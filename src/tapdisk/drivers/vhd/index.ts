/**
 * The VHD image driver: fixed, dynamic and differencing disks, chains of them (with a raw file
 * at the bottom if need be). `openVhd` is what the tapdisk driver registry calls for `vhd:/path`.
 */
import type { DriverFactory, FileIo, ImageDriver, OpenOptions, RegionTable } from '../../api.js';
import { SplitblkError } from '../../../util/errors.js';
import { ChainIo } from './chain-io.js';
import { openChain } from './chain.js';
import { VhdDriver } from './driver.js';

export interface VhdOpenOptions extends OpenOptions {
  /** Most images in a chain, leaf included (default CHAIN_DEPTH_MAX_DEFAULT). */
  chainDepthMax?: number;
  /** Sync between allocation steps so their order survives power loss (`?durable-metadata=1`). */
  durableMetadata?: boolean;
}

export interface VhdDeps {
  /** Resolves request segments' region ids to views of their bytes. */
  regions: RegionTable;
  /** The process's native AIO (the fast path for reads and writes inside present blocks). */
  fileIo?: FileIo | null;
  /** Requests in flight at once. */
  depthMax?: number;
}

/** Open the chain whose leaf is `path` and serve it as an ImageDriver. */
export async function openVhd(path: string, opts: VhdOpenOptions, deps: VhdDeps): Promise<ImageDriver> {
  const io = await openVhdChain(path, opts);
  return new VhdDriver(io, deps, !!opts.readonly);
}

/**
 * The registry's entry point for `vhd:/path[?chain-depth-max=N]`. Guest data moves between the
 * file and the request's region views by preadv/pwritev, so the CPU copies nothing.
 */
export const driver: DriverFactory = {
  async open(spec, opts, env) {
    const depth = spec.params['chain-depth-max'];
    let chainDepthMax: number | undefined;
    if (depth !== undefined) {
      chainDepthMax = Number(depth);
      if (!Number.isInteger(chainDepthMax) || chainDepthMax < 1) {
        throw new SplitblkError('SPLITBLK_ERR_BAD_SPEC', `${spec.text}: chain-depth-max must be a positive integer`, { path: spec.path });
      }
    }
    const durable = spec.params['durable-metadata'];
    const durableMetadata = durable === '1' || durable === 'true';
    return openVhd(spec.path, { ...opts, durableMetadata, ...(chainDepthMax !== undefined ? { chainDepthMax } : {}) }, {
      regions: env.regions,
      fileIo: env.io,
      depthMax: env.depthMax,
    });
  },
};

/** The chain without the request layer: for tools (coalesce, convert, tests) that move bytes. */
export async function openVhdChain(path: string, opts: VhdOpenOptions = {}): Promise<ChainIo> {
  const writable = !opts.readonly;
  const layers = await openChain(path, { writable, ...(opts.chainDepthMax !== undefined ? { chainDepthMax: opts.chainDepthMax } : {}) });
  const leaf = layers[0]!;
  if (writable && leaf.kind === 'vhd') await leaf.settleTail();
  return new ChainIo(layers, writable, !!opts.durableMetadata);
}

export { ChainIo } from './chain-io.js';
export { CHAIN_DEPTH_MAX_DEFAULT, openChain, closeLayers, type Layer } from './chain.js';
export { VhdFile } from './vhd-file.js';
export { createVhd, type CreateVhdOptions } from './create.js';
