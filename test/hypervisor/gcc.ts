import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** test/c/guest in the source tree (this file runs from build/test/hypervisor). */
export const cGuestDir = fileURLToPath(new URL('../../../test/c/guest/', import.meta.url));

/**
 * Why C tests cannot run here, or undefined when gcc and the Xen headers are present. Under
 * CI=true a missing tool is a failure, elsewhere a skip with the reason.
 */
export function cToolchainMissing(): string | undefined {
  if (spawnSync('gcc', ['--version']).status !== 0) return 'gcc is not installed';
  if (!existsSync('/usr/include/xen/grant_table.h')) return 'the Xen headers (libxen-dev) are not installed';
  return undefined;
}

/** gcc -Wall -Wextra -Werror; throws with gcc's output on failure. */
export function compileC(sources: string[], output: string): void {
  const result = spawnSync('gcc', ['-Wall', '-Wextra', '-Werror', '-std=c11', '-O2', `-I${cGuestDir}`, '-o', output, ...sources], {
    encoding: 'utf8',
  });
  if (result.status !== 0) throw new Error(`gcc failed:\n${result.stderr}`);
}
