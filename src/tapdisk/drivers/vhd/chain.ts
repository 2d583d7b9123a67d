/**
 * Opening a chain: the leaf, then each differencing disk's parent (VHD, validated by unique id,
 * or raw when the recorded parent id is nil), up to a depth limit.
 */
import { DiskType, VhdErrorCode, uuidEqual, uuidIsNil, uuidToString, vhdError } from '../../../vhd/index.js';
import { findParent } from './parent.js';
import { RawLayer } from './raw-layer.js';
import { VhdFile } from './vhd-file.js';

export type Layer = VhdFile | RawLayer;

/** Default bound on images in a chain (leaf included); also what stops a loop of parents. */
export const CHAIN_DEPTH_MAX_DEFAULT = 32;

export interface ChainOptions {
  writable: boolean;
  chainDepthMax?: number;
}

export async function openChain(path: string, opts: ChainOptions): Promise<Layer[]> {
  const depthMax = opts.chainDepthMax ?? CHAIN_DEPTH_MAX_DEFAULT;
  const layers: Layer[] = [];
  try {
    let cur = await VhdFile.open(path, opts.writable);
    layers.push(cur);
    while (cur.type === DiskType.Differencing) {
      if (layers.length >= depthMax) {
        throw vhdError(VhdErrorCode.ChainDepth, `${path}: chain is deeper than ${depthMax} images`, { path, depthMax });
      }
      const parentPath = await findParent(cur);
      const parentUuid = cur.header!.parentUuid;
      if (uuidIsNil(parentUuid)) {
        layers.push(await RawLayer.open(parentPath));
        break;
      }
      const parent = await VhdFile.open(parentPath, false);
      layers.push(parent);
      if (!uuidEqual(parent.footer.uuid, parentUuid)) {
        throw vhdError(
          VhdErrorCode.ParentUuid,
          `${cur.path}: parent ${parentPath} has id ${uuidToString(parent.footer.uuid)}, expected ${uuidToString(parentUuid)}`,
          { path: cur.path, parent: parentPath },
        );
      }
      cur = parent;
    }
    return layers;
  } catch (error) {
    await closeLayers(layers);
    throw error;
  }
}

export async function closeLayers(layers: Layer[]): Promise<void> {
  for (const l of layers) await l.close().catch(() => undefined);
}
