/**
 * A guest that runs its blkfront again on the same device reconnects, as Linux guests do after a
 * module reload or a resume: after a clean close (backend Closed -> InitWait on the frontend's
 * Initialising, blkif.h's reconnect) and after the previous frontend process was killed (its
 * watches still registered on the domain's xenstore connection until the new one resets them).
 */
import test from 'ava';
import { truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { finished, makeRunDir, needNative, ok, startCli, upDetached } from './cli.js';

const frontendArgs = (flag: string[]) => ['frontend', '1', 'xvda', '--verify', '--rw', 'randrw', '--size', '1M', '--iodepth', '8', '--output=json', ...flag];

test('a second and third frontend on the same device reconnect and verify', async (t) => {
  if (!needNative(t)) return;
  const dir = await makeRunDir(t);
  await upDetached(t, dir);
  const image = join(dir.scratch, 'disk.raw');
  writeFileSync(image, '');
  truncateSync(image, 8 * 1024 * 1024);
  await ok(t, ['domain', 'create', '--domid', '1', ...dir.flag]);
  await ok(t, ['attach', '1', `format=raw, vdev=xvda, access=rw, target=${image}`, ...dir.flag]);

  for (let run = 1; run <= 2; run++) {
    const report = JSON.parse(await ok(t, frontendArgs(dir.flag)));
    t.true(report.verify.ok, `clean run ${run}: ${JSON.stringify(report.verify)}`);
  }

  // A frontend killed while connected (reading, so the disk keeps only verifiable data); the next
  // one must still get its watches and reconnect.
  const doomed = startCli(['frontend', '1', 'xvda', '--rw', 'randread', '--runtime', '30', ...dir.flag]);
  const doomedDone = finished(doomed);
  await new Promise((resolve) => setTimeout(resolve, 1500));
  doomed.kill('SIGKILL');
  await doomedDone;
  const after = JSON.parse(await ok(t, frontendArgs(dir.flag)));
  t.true(after.verify.ok, `after a killed frontend: ${JSON.stringify(after.verify)}`);

  await ok(t, ['detach', '1', 'xvda', ...dir.flag]);
  await ok(t, ['domain', 'destroy', '1', ...dir.flag]);
});
