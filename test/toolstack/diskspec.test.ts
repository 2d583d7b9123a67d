import test from 'ava';
import { parseDiskSpec } from '../../src/toolstack/diskspec.js';
import { vdevToDevid } from '../../src/toolstack/vdev.js';

const exists = () => true;

test('the equivalent forms from xl-disk-configuration(5) parse alike', (t) => {
  const forms = [
    '/dev/vg/guest-volume,,hda',
    '/dev/vg/guest-volume,raw,hda,rw',
    'format=raw, vdev=hda, access=rw, target=/dev/vg/guest-volume',
  ];
  for (const form of forms) {
    const r = parseDiskSpec(form, { checkTarget: exists });
    t.true(r.ok, form);
    if (!r.ok) continue;
    t.deepEqual(r.value, {
      target: '/dev/vg/guest-volume', format: 'raw', vdev: 'hda', devid: 768, access: 'rw', devtype: 'disk', discard: true,
    });
  }
});

test('cdrom forms default to read-only', (t) => {
  for (const form of ['/root/image.iso,,hdc,cdrom', '/root/image.iso,,hdc,,cdrom', '/root/image.iso,raw,hdc,devtype=cdrom',
    'format=raw, vdev=hdc, access=ro, devtype=cdrom, target=/root/image.iso']) {
    const r = parseDiskSpec(form, { checkTarget: exists });
    t.true(r.ok, form);
    if (r.ok) t.like(r.value, { target: '/root/image.iso', vdev: 'hdc', devid: 5632, access: 'ro', devtype: 'cdrom' });
  }
});

test('target= takes the rest of the string, commas and all', (t) => {
  const r = parseDiskSpec('vdev=xvdb, format=vhd, target=/tmp/a,b=c.vhd', { checkTarget: exists });
  t.true(r.ok);
  if (r.ok) t.like(r.value, { target: '/tmp/a,b=c.vhd', format: 'vhd', devid: 51728 });
});

test('errors name the offending token', (t) => {
  const cases: Array<[string, RegExp]> = [
    ['format=qcow2, vdev=xvda, target=/x', /unsupported format 'qcow2'/],
    ['format=floppy, vdev=xvda, target=/x', /unknown format 'floppy'/],
    ['vdev=xvda, access=rx, target=/x', /invalid access 'rx'/],
    ['vdev=xyz, target=/x', /invalid vdev 'xyz'/],
    ['format=raw, target=/x', /missing vdev/],
    ['format=raw, vdev=xvda', /missing target/],
    ['colour=blue, vdev=xvda, target=/x', /unknown parameter 'colour=blue'/],
    ['vdev=xvda, vdev=xvdb, target=/x', /given twice/],
    ['/x,raw,xvda,rw,extra', /unexpected positional parameter 'extra'/],
    ['vdev=xvda, devtype=tape, target=/x', /invalid devtype 'tape'/],
  ];
  for (const [spec, message] of cases) {
    const r = parseDiskSpec(spec, { checkTarget: exists });
    t.false(r.ok, spec);
    if (!r.ok) t.regex(r.error, message, spec);
  }
});

test('a missing target file is reported by path', (t) => {
  const r = parseDiskSpec('vdev=xvda, target=/nonexistent/disk.img');
  t.false(r.ok);
  if (!r.ok) t.is(r.error, "target '/nonexistent/disk.img' does not exist");
});

test('vdev names map to Xen device ids (vbd-interface.txt)', (t) => {
  t.is(vdevToDevid('xvda'), 51712);
  t.is(vdevToDevid('xvdb'), 51728);
  t.is(vdevToDevid('xvda1'), 51713);
  t.is(vdevToDevid('xvdq'), (1 << 28) | (16 << 8));
  t.is(vdevToDevid('xvdaa'), (1 << 28) | (26 << 8));
  t.is(vdevToDevid('hda'), 768);
  t.is(vdevToDevid('hdb'), 832);
  t.is(vdevToDevid('hdc'), 5632);
  t.is(vdevToDevid('sda'), 2048);
  t.is(vdevToDevid('d0p0'), 51712);
  t.is(vdevToDevid('51712'), 51712);
  t.is(vdevToDevid('xvd'), undefined);
  t.is(vdevToDevid('hde'), undefined);
  t.is(vdevToDevid('0'), undefined);
});
