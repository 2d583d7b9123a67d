import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './repo.js';

/** Why tests that load the native addon cannot run, or undefined when it is built. */
export function nativeMissing(): string | undefined {
  return existsSync(join(repoRoot(), 'build/Release/splitblk.node')) ? undefined : 'the native addon is not built (npx node-gyp rebuild)';
}
