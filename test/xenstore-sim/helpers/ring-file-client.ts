import { closeSync, openSync, readSync, writeSync, constants } from 'node:fs';
import { RawClient } from './raw-client.js';
import { REQ, REQ_CONS, REQ_PROD, RING, RSP, RSP_CONS, RSP_PROD } from './xs-ring-offsets.js';

/*
 * A guest's end of the oracle's fake xenstore ring: the 4 KiB file <fx>/ring-<domid> laid out
 * as struct xenstore_domain_interface (offsets written out from xs_wire.h, independently of
 * src/), and the FIFO <fx>/evtchn that wakes the daemon when we write port 1000+domid to it.
 * The fake never notifies us, so replies are polled.
 */

export function ringFileClient(fxDir: string, domid: number): RawClient {
  const fd = openSync(`${fxDir}/ring-${domid}`, 'r+');
  const ev = openSync(`${fxDir}/evtchn`, constants.O_WRONLY | constants.O_NONBLOCK);
  const port = Buffer.alloc(4);
  port.writeUInt32LE(1000 + domid);
  const u32 = Buffer.alloc(4);
  const read32 = (off: number): number => {
    readSync(fd, u32, 0, 4, off);
    return u32.readUInt32LE(0);
  };
  const write32 = (off: number, v: number): void => {
    u32.writeUInt32LE(v >>> 0, 0);
    writeSync(fd, u32, 0, 4, off);
  };
  const kick = (): void => {
    try {
      writeSync(ev, port);
    } catch {
      // The FIFO is full: the daemon has wake-ups queued already.
    }
  };
  let out = Buffer.alloc(0);
  let closed = false;
  /** Requests sent and not yet answered: keep waking the daemon, as ring.py does. */
  let awaiting = false;
  const pump = (): void => {
    if (closed) return;
    // Requests: copy what fits, then publish the new producer index.
    if (out.length > 0) {
      const cons = read32(REQ_CONS);
      const prod = read32(REQ_PROD);
      const space = RING - ((prod - cons) >>> 0);
      const n = Math.min(space, out.length);
      for (let i = 0; i < n; i++) writeSync(fd, out, i, 1, REQ + ((prod + i) & (RING - 1)));
      if (n > 0) {
        write32(REQ_PROD, prod + n);
        out = out.subarray(n);
        awaiting = true;
      }
      kick();
    } else if (awaiting) {
      kick();
    }
    // Replies and events.
    const cons = read32(RSP_CONS);
    const prod = read32(RSP_PROD);
    const avail = (prod - cons) >>> 0;
    if (avail > 0 && avail <= RING) {
      const data = Buffer.alloc(avail);
      for (let i = 0; i < avail; i++) readSync(fd, data, i, 1, RSP + ((cons + i) & (RING - 1)));
      write32(RSP_CONS, cons + avail);
      awaiting = false;
      kick();
      client.receive(data);
    }
  };
  const timer = setInterval(pump, 1);
  const client = new RawClient((buf) => {
    out = Buffer.concat([out, buf]);
    pump();
  }, () => {
    closed = true;
    clearInterval(timer);
    closeSync(fd);
    closeSync(ev);
  });
  return client;
}
