import type { StartInfo } from './api.js';
import { isRecord, readJson, uint, writeJsonAtomic } from './json-file.js';

/**
 * The start-info record (domains/<domid>/start-info), Xen's start_info page as one line of JSON.
 * Keys are written in this order; readers must ignore keys they do not know.
 */
export const STORE_GFN = 1;
/** gfn 0 (never used, like a null page), 1 (xenstore ring), 2 (console ring), 3 (spare). */
export const RESERVED_PAGES = 4;

export function encodeStartInfo(info: StartInfo): Record<string, unknown> {
  return {
    domid: info.domid,
    name: info.name,
    memoryPages: info.memoryPages,
    reservedPages: info.reservedPages,
    storeGfn: info.storeGfn,
    storePort: info.storePort,
    grantEntries: info.grantEntries,
    evtchnPorts: info.evtchnPorts,
  };
}

/** Decode a record read from the file; undefined when it is missing or malformed. */
export function decodeStartInfo(value: unknown): StartInfo | undefined {
  if (!isRecord(value) || typeof value.name !== 'string') return undefined;
  const domid = uint(value.domid);
  const memoryPages = uint(value.memoryPages);
  const reservedPages = uint(value.reservedPages);
  const storeGfn = uint(value.storeGfn);
  const storePort = uint(value.storePort);
  const grantEntries = uint(value.grantEntries);
  const evtchnPorts = uint(value.evtchnPorts);
  if (
    domid === undefined ||
    memoryPages === undefined ||
    reservedPages === undefined ||
    storeGfn === undefined ||
    storePort === undefined ||
    grantEntries === undefined ||
    evtchnPorts === undefined
  ) {
    return undefined;
  }
  return { domid, name: value.name, memoryPages, reservedPages, storeGfn, storePort, grantEntries, evtchnPorts };
}

export const readStartInfo = (path: string): StartInfo | undefined => decodeStartInfo(readJson(path));
export const writeStartInfo = (path: string, info: StartInfo): void => writeJsonAtomic(path, encodeStartInfo(info));
