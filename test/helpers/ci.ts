/**
 * The one rule for tests that need an installed tool (gcc, the Xen headers, qemu-img, the C
 * xenstored, the native addon): CI installs every such tool (.ci/run), so under CI=true a
 * missing one is a broken environment and fails the test; elsewhere the test is skipped with
 * the reason printed.
 */
import type { ExecutionContext } from 'ava';

/**
 * Whether the test may go on: true when `missing` is undefined. Otherwise fails the test under
 * CI=true, or logs `skipped: <missing>` and passes it elsewhere, and returns false so callers
 * can write `if (!available(t, why)) return;`.
 */
export function available(t: ExecutionContext, missing: string | undefined): boolean {
  if (missing === undefined) return true;
  if (process.env['CI'] === 'true') {
    t.fail(`${missing}: required under CI`);
  } else {
    t.log(`skipped: ${missing}`);
    t.pass();
  }
  return false;
}
