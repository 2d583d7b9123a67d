/**
 * The child process of the crash test: opens a VHD through the driver and does allocating
 * writes, flushing periodically, until it is killed. After each flush completes it prints
 * `flushed N`: writes 0..N-1 were acknowledged before that flush was issued.
 *
 * usage: node crash-writer.js IMAGE SEED [durable]
 */
import { TdOp, TdStatus } from '../../src/tapdisk/api.js';
import { openVhd } from '../../src/tapdisk/drivers/vhd/index.js';
import { Regions, submit } from './helpers.js';
import { SLOT_BYTES, slotContent, slotOrder } from './crash-slots.js';

const [image, seedText, mode] = process.argv.slice(2);
const regions = new Regions();
const driver = await openVhd(image!, { durableMetadata: mode === 'durable' }, { regions });
const order = slotOrder(driver.info.sectors * 512, Number(seedText));
const inFlightMax = 8;
const batch = 32;

for (let start = 0; start < order.length; start += batch) {
  const end = Math.min(order.length, start + batch);
  const pending: Promise<unknown>[] = [];
  for (let i = start; i < end; i++) {
    if (pending.length >= inFlightMax) await Promise.race(pending);
    const p = submit(driver, regions, TdOp.Write, (order[i]! * SLOT_BYTES) / 512, slotContent(i)).then((r) => {
      if (r.status !== TdStatus.Ok) throw new Error(`write ${i} failed: ${r.errno}`);
      pending.splice(pending.indexOf(p), 1);
    });
    pending.push(p);
  }
  await Promise.all(pending);
  // Every write of this batch is acknowledged; the flush runs alongside the next batch.
  void submit(driver, regions, TdOp.Flush, 0, new Uint8Array(0)).then((r) => {
    if (r.status === TdStatus.Ok) process.stdout.write(`flushed ${end}\n`);
  });
}
await driver.close();
process.stdout.write('done\n');
