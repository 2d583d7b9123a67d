/** What `image info` shows about one VHD (or a raw file in a chain). */
import { stat } from 'node:fs/promises';
import { BAT_UNUSED, DiskType, creatorAppString, diskTypeName, uuidIsNil, uuidToString, vhdTimeToDate } from '../../../../vhd/index.js';
import type { Layer } from '../chain.js';

export interface ImageInfoReport {
  filename: string;
  format: 'vpc' | 'raw';
  virtualSize: number;
  actualSize: number;
  diskType?: string;
  blockSize?: number;
  uuid?: string;
  creatorApp?: string;
  creatorVersion?: string;
  created?: string;
  totalBlocks?: number;
  allocatedBlocks?: number;
  batmap?: boolean;
  footerSource?: string;
  parentUuid?: string;
  parentName?: string;
}

export async function layerInfo(layer: Layer): Promise<ImageInfoReport> {
  const st = await stat(layer.path);
  const base = { filename: layer.path, actualSize: st.blocks * 512 };
  if (layer.kind === 'raw') return { ...base, format: 'raw', virtualSize: layer.sizeBytes };
  const f = layer.footer;
  const r: ImageInfoReport = {
    ...base,
    format: 'vpc',
    virtualSize: layer.sizeBytes,
    diskType: diskTypeName(f.diskType),
    uuid: uuidToString(f.uuid),
    creatorApp: creatorAppString(f),
    creatorVersion: `${f.creatorVersion >>> 16}.${f.creatorVersion & 0xffff}`,
    created: vhdTimeToDate(f.timestamp).toISOString(),
    footerSource: layer.footerSource,
  };
  if (layer.isDynamic) {
    r.blockSize = layer.blockSize;
    r.totalBlocks = Math.ceil(layer.sizeBytes / layer.blockSize);
    r.allocatedBlocks = layer.bat.reduce((n, e) => (e === BAT_UNUSED ? n : n + 1), 0);
    r.batmap = layer.batmap !== undefined;
  }
  const h = layer.header;
  if (h && f.diskType === DiskType.Differencing) {
    r.parentUuid = uuidIsNil(h.parentUuid) ? '(raw parent)' : uuidToString(h.parentUuid);
    r.parentName = h.parentName;
  }
  return r;
}
