import * as fs from 'node:fs';
import { SplitblkError } from '../util/errors.js';
import type { DriverEnv, DriverFactory, ImageDriver, OpenOptions } from './api.js';
import { ERR_NO_IMAGE, ERR_TYPE_UNAVAILABLE, ERR_UNKNOWN_TYPE } from './errors.js';
import { parseSpec } from './spec.js';

export type DriverModule = { driver?: DriverFactory };

/**
 * Import a driver module that may not exist in this build. The specifier is a URL built at run
 * time, so tsc does not need the module to compile this file.
 */
export function optional(relative: string): () => Promise<DriverModule> {
  return async () => {
    const url = new URL(relative, import.meta.url);
    try {
      return (await import(url.href)) as DriverModule;
    } catch (error) {
      const e = error as NodeJS.ErrnoException;
      if (e.code === 'ERR_MODULE_NOT_FOUND' && String(e.message).includes(url.pathname)) return {};
      throw error;
    }
  };
}

export interface DriverEntry {
  summary: string;
  /** The path names a file or device that must exist (checked here, so every driver reports a
   *  missing image the same way). */
  file: boolean;
  load: () => Promise<DriverModule>;
}

/**
 * The static table of image types, keyed by the `type` of `type:/path`. A driver module exports
 * `driver: DriverFactory`; it is imported the first time its type is opened.
 */
export const driverTable: Readonly<Record<string, DriverEntry>> = {
  aio: { summary: 'regular file or block device, native async I/O', file: true, load: () => import('./drivers/raw.js') },
  raw: { summary: 'same as aio', file: true, load: () => import('./drivers/raw.js') },
  null: { summary: 'null:SIZE - discards writes, reads zeros', file: false, load: () => import('./drivers/null.js') },
  ram: { summary: 'ram:SIZE - in memory, for tests', file: false, load: () => import('./drivers/ram.js') },
  vhd: { summary: 'VHD (fixed, dynamic, differencing)', file: true, load: optional('./drivers/vhd/index.js') },
};

/** Find the driver for a spec's type: unknown types and absent modules are distinct errors. */
export async function loadDriver(type: string, table: Readonly<Record<string, DriverEntry>> = driverTable): Promise<DriverFactory> {
  const entry = Object.hasOwn(table, type) ? table[type] : undefined;
  if (entry === undefined) {
    throw new SplitblkError(ERR_UNKNOWN_TYPE, `unknown image type '${type}' (known: ${Object.keys(table).join(', ')})`, { type });
  }
  const module = await entry.load();
  if (module.driver === undefined) {
    throw new SplitblkError(ERR_TYPE_UNAVAILABLE, `image type '${type}' is not available in this build`, { type });
  }
  return module.driver;
}

/** Open `type:/path` through the registry. Throws SplitblkErrors with the codes in errors.ts. */
export async function openImage(specText: string, opts: OpenOptions, env: DriverEnv): Promise<ImageDriver> {
  const spec = parseSpec(specText);
  if (!spec.ok) throw spec.error;
  const driver = await loadDriver(spec.value.type);
  const { path } = spec.value;
  if (driverTable[spec.value.type]!.file && path !== '' && !fs.existsSync(path)) {
    throw new SplitblkError(ERR_NO_IMAGE, `${specText}: no such file or device`, { spec: specText, path });
  }
  return driver.open(spec.value, opts, env);
}
