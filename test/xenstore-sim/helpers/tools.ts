import { existsSync } from 'node:fs';
import type { ExecutionContext } from 'ava';
import { available } from '../../helpers/ci.js';

export const ORACLE_DIR = '/work/shared/tools/xenstore-oracle';
export const ORACLE_SCRIPT = process.env.XS_ORACLE_SCRIPT ?? `${ORACLE_DIR}/xs-oracle.sh`;
export const C_XENSTORED = '/usr/lib/xen-4.17/bin/xenstored';
export const TEST_XENSTORE = '/usr/lib/xen-4.17/bin/test-xenstore';

/**
 * Whether every tool exists. Under CI=true a missing tool fails the test; elsewhere the test
 * logs why and passes as skipped.
 */
export function haveTools(t: ExecutionContext, ...paths: string[]): boolean {
  const missing = paths.filter((p) => !existsSync(p));
  return available(t, missing.length === 0 ? undefined : `missing ${missing.join(', ')}`);
}

/** A tool on PATH, resolved to its file (for haveTools). */
export function onPath(name: string): string {
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(':')) {
    if (existsSync(`${dir}/${name}`)) return `${dir}/${name}`;
  }
  return `/usr/bin/${name}`;
}
