/**
 * Discard on a VHD. Neither reference VHD implementation takes it: qemu's vpc driver
 * (block/vpc.c) has no discard callback, and tapdisk's VHD driver (blktap drivers/block-vhd.c,
 * `struct tap_disk tapdisk_vhd`) queues only reads and writes. A VHD block could be freed only
 * when a discard covers it whole, and on a differencing disk freeing it would show the
 * parent's older data again, so splitblk follows them: the VHD driver says `discard: false`,
 * and the backend (blkback/device.ts capsOf) then writes feature-discard=0, so a guest never
 * sends one. A raw disk on the same backend offers it, which shows the decision is the
 * driver's. A guest that sends one anyway gets BLKIF_RSP_EOPNOTSUPP and the image is untouched.
 */
import test from 'ava';
import { closeSync, ftruncateSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { BlkifRequest } from '../../src/blkback/protocol/request.js';
import { XenbusState } from '../../src/xenstore-sim/xenbus/index.js';
import { createVhd } from '../../src/tapdisk/drivers/vhd/index.js';
import { checkVhd } from '../../src/tapdisk/drivers/vhd/ops/check.js';
import { Frontend, Guest } from '../blkback/fixtures/guest.js';
import { Harness } from '../blkback/harness.js';

const VHD_DEV = 51712; // xvda
const RAW_DEV = 51728; // xvdb
const BLKIF_OP_DISCARD = 5;
const BLKIF_RSP_EOPNOTSUPP = -2;

test('a VHD disk offers feature-discard=0 (a raw one 1); a discard sent anyway gets EOPNOTSUPP', async (t) => {
  const h = await Harness.start();
  try {
    await h.createDomain(1);
    const vhd = join(h.tmp, 'disk.vhd');
    await createVhd({ path: vhd, type: 'dynamic', size: 16 << 20 });
    const raw = join(h.tmp, 'disk.raw');
    const fd = openSync(raw, 'w');
    ftruncateSync(fd, 16 << 20);
    closeSync(fd);
    await h.attach(1, VHD_DEV, { params: `vhd:${vhd}` });
    await h.attach(1, RAW_DEV, { params: `aio:${raw}` });
    const g = await Guest.open(h.rundir, h.xsSocket, 1);
    const vfe = new Frontend(g, VHD_DEV);
    const rfe = new Frontend(g, RAW_DEV);
    t.like(await vfe.connect({}), { readonly: false, flush: true, discard: false });
    t.like(await rfe.connect({}), { readonly: false, discard: true });
    t.is(await h.xs.readString(`${h.backendPath(1, VHD_DEV)}/feature-discard`), '0', 'feature-discard=0 for the VHD');

    const req = new BlkifRequest();
    req.clear();
    req.operation = BLKIF_OP_DISCARD;
    req.sectorNumber = 0;
    req.nrSectors = 4096; // one whole 2 MiB block
    const r = await vfe.queues[0]!.submit(req);
    t.is(r.op, BLKIF_OP_DISCARD);
    t.is(r.status, BLKIF_RSP_EOPNOTSUPP);

    t.is(await vfe.close(), XenbusState.Closed);
    t.is(await rfe.close(), XenbusState.Closed);
    t.is(await h.detach(1, VHD_DEV), XenbusState.Closed);
    t.is(await h.detach(1, RAW_DEV), XenbusState.Closed);
    await g.close();
    t.is((await checkVhd(vhd)).verdict, 'clean');
  } finally {
    t.is(await h.close(), 0);
  }
});
