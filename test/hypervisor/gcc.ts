import { fileURLToPath } from 'node:url';
import { gcc, gccMissing } from '../helpers/gcc.js';

/** test/c/guest in the source tree (this file runs from build/test/hypervisor). */
export const cGuestDir = fileURLToPath(new URL('../../../test/c/guest/', import.meta.url));

/** Why the C guest cannot be built here, or undefined when gcc and the Xen headers are present. */
export const cToolchainMissing = (): string | undefined => gccMissing(['/usr/include/xen/grant_table.h']);

/** Build the C guest sources with every warning an error; throws with gcc's output on failure. */
export function compileC(sources: string[], output: string): void {
  gcc(['-Wall', '-Wextra', '-Werror', '-std=c11', '-O2', `-I${cGuestDir}`, '-o', output, ...sources]);
}
