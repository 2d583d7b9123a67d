/**
 * Every way `splitblk attach` can refuse, through the CLI: the message names the offending token,
 * the missing file, the unsupported format or the absent domain; exit 2 for a bad DISKSPEC or
 * usage, 1 for an operating error (absent domain, missing file, duplicate device, services down).
 * Plus the one-line usage errors of demo and domain create.
 */
import test from 'ava';
import { truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeRunDir, needNative, ok, splitblk, upDetached } from './cli.js';

/** One line on stderr, nothing on stdout. */
function oneLine(t: Parameters<typeof ok>[0], r: { stdout: string; stderr: string }): void {
  t.is(r.stdout, '');
  t.is(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
}

test('a bad DISKSPEC exits 2 naming the offending token (no services needed)', async (t) => {
  const dir = await makeRunDir(t);
  const image = join(dir.scratch, 'disk.raw');
  writeFileSync(image, '');
  truncateSync(image, 1024 * 1024);
  const cases: Array<[spec: string, message: RegExp]> = [
    [`format=qcow2, vdev=xvda, target=${image}`, /DISKSPEC: unsupported format 'qcow2'/],
    [`format=floppy, vdev=xvda, target=${image}`, /DISKSPEC: unknown format 'floppy'/],
    [`colour=blue, vdev=xvda, target=${image}`, /DISKSPEC: unknown parameter 'colour=blue'/],
    [`format=raw, vdev=xyz, target=${image}`, /DISKSPEC: invalid vdev 'xyz'/],
    [`format=raw, vdev=xvda, access=rx, target=${image}`, /DISKSPEC: invalid access 'rx'/],
    [`format=raw, vdev=xvda, devtype=tape, target=${image}`, /DISKSPEC: invalid devtype 'tape'/],
    [`format=raw, target=${image}`, /DISKSPEC: missing vdev/],
    ['format=raw, vdev=xvda', /DISKSPEC: missing target/],
    [`vdev=xvda, vdev=xvdb, target=${image}`, /DISKSPEC: parameter 'vdev' given twice/],
    [`${image},raw,xvda,rw,extra`, /DISKSPEC: unexpected positional parameter 'extra'/],
  ];
  const results = await Promise.all(cases.map(([spec]) => splitblk(['attach', '1', spec, ...dir.flag])));
  results.forEach((r, i) => {
    const [spec, message] = cases[i]!;
    t.is(r.code, 2, spec);
    t.regex(r.stderr, /^splitblk attach: /);
    t.regex(r.stderr, message, spec);
    oneLine(t, r);
  });
});

test('attach usage errors exit 2', async (t) => {
  const [noSpec, badDomid, badTimeout, badFlag] = await Promise.all([
    splitblk(['attach', '1']),
    splitblk(['attach', 'one', 'vdev=xvda, target=/x']),
    splitblk(['attach', '1', 'vdev=xvda, target=/x', '--timeout', 'soon']),
    splitblk(['attach', '1', 'vdev=xvda, target=/x', '--bogus']),
  ]);
  for (const r of [noSpec, badDomid, badTimeout, badFlag]) {
    t.is(r.code, 2, r.stderr);
    oneLine(t, r);
  }
  t.regex(noSpec.stderr, /expected DOMID and 'DISKSPEC'/);
  t.regex(badDomid.stderr, /not an integer: "one"/);
  t.regex(badTimeout.stderr, /--timeout: not an integer: "soon"/);
  t.regex(badFlag.stderr, /--bogus/);
});

test('a missing file, or services that are not running, exit 1 with the reason', async (t) => {
  const dir = await makeRunDir(t);
  const missing = join(dir.scratch, 'nowhere', 'disk.raw');
  const noFile = await splitblk(['attach', '1', `format=raw, vdev=xvda, target=${missing}`, ...dir.flag]);
  t.is(noFile.code, 1);
  t.is(noFile.stderr, `splitblk attach: target '${missing}' does not exist\n`);

  const image = join(dir.scratch, 'disk.raw');
  writeFileSync(image, '');
  const down = await splitblk(['attach', '1', `format=raw, vdev=xvda, target=${image}`, ...dir.flag]);
  t.is(down.code, 1);
  t.regex(down.stderr, /cannot reach xenstored at .*xenstored\/socket \(run 'splitblk up' first\)/);
  oneLine(t, down);
});

test('an absent domain and a duplicate device exit 1 naming them', async (t) => {
  if (!needNative(t)) return;
  const dir = await makeRunDir(t);
  await upDetached(t, dir);
  const image = join(dir.scratch, 'disk.raw');
  writeFileSync(image, '');
  truncateSync(image, 1024 * 1024);
  const absent = await splitblk(['attach', '7', `format=raw, vdev=xvda, target=${image}`, ...dir.flag]);
  t.is(absent.code, 1);
  t.is(absent.stderr, 'splitblk attach: domain 7 does not exist\n');

  await ok(t, ['domain', 'create', '--domid', '2', ...dir.flag]);
  t.is(await ok(t, ['attach', '2', `${image},raw,xvda,rw`, ...dir.flag]), '51712\n');
  const twice = await splitblk(['attach', '2', `format=raw, vdev=xvda, access=ro, target=${image}`, ...dir.flag]);
  t.is(twice.code, 1);
  t.is(twice.stderr, 'splitblk attach: domain 2 already has a device xvda\n');
  // The same device named by number is the same device.
  const byNumber = await splitblk(['attach', '2', `format=raw, vdev=51712, target=${image}`, ...dir.flag]);
  t.is(byNumber.code, 1);
  t.regex(byNumber.stderr, /already has a device/);

  const noDevice = await splitblk(['detach', '2', 'xvdz', ...dir.flag]);
  t.is(noDevice.code, 1);
  t.is(noDevice.stderr, 'splitblk detach: domain 2 has no device xvdz\n');
  await ok(t, ['detach', '2', 'xvda', ...dir.flag]);
});

test('demo --bogus and domain create --memory abc: one-line errors, exit 2', async (t) => {
  const [demo, memory, unknownVerb, unknownSub] = await Promise.all([
    splitblk(['demo', '--bogus']),
    splitblk(['domain', 'create', '--memory', 'abc']),
    splitblk(['frobnicate']),
    splitblk(['domain', 'frobnicate']),
  ]);
  for (const r of [demo, memory, unknownVerb, unknownSub]) {
    t.is(r.code, 2, r.stderr);
    oneLine(t, r);
  }
  t.regex(demo.stderr, /^splitblk demo: .*'--bogus'/);
  t.is(memory.stderr, 'splitblk domain create: --memory: not an integer: "abc"\n');
  t.regex(unknownVerb.stderr, /unknown verb 'frobnicate'/);
  t.regex(unknownSub.stderr, /unknown sub-verb 'frobnicate'; one of: create, destroy, list/);
});
