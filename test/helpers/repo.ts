import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The repository root, found by walking up to package.json, so that a helper works the same
 * from test/<area>/x.ts and from its compiled build/test/<area>/x.js.
 */
export function repoRoot(): string {
  let dir = fileURLToPath(new URL('.', import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) dir = join(dir, '..');
  return dir;
}
