import { closeSync, constants, openSync, readSync, writeSync } from 'node:fs';
import { DaemonRingStream, XsRingPage } from '../../../src/xenstore-sim/ring/stream.js';
import type { RingDoorbell } from '../../../src/xenstore-sim/ring/doorbell.js';
import type { ByteStream, GuestConnector } from '../../../src/xenstore-sim/server/index.js';
import { CONNECTION, ERROR, REQ, REQ_CONS, REQ_PROD, RING, RSP, RSP_CONS, RSP_PROD, SERVER_FEATURES } from './xs-ring-offsets.js';

/*
 * A guest that drives its xenstore ring page by hand, so a test can do what a well-behaved
 * client never does (fill req[] and leave rsp[] unread) and see what the daemon did: the four
 * ring indices and the bytes in rsp[]. The page layout is written out from xs_wire.h
 * (struct xenstore_domain_interface), independently of src/.
 */

/** Byte access to one ring page and the doorbell to the daemon. */
interface PageAccess {
  read(offset: number, length: number): Buffer;
  write(offset: number, bytes: Buffer): void;
  kick(): void;
  close(): void;
}

export interface RingIndices {
  reqCons: number;
  reqProd: number;
  rspCons: number;
  rspProd: number;
}

export class RawGuestRing {
  constructor(private readonly page: PageAccess) {}

  private u32(offset: number): number {
    return this.page.read(offset, 4).readUInt32LE(0);
  }

  private setU32(offset: number, value: number): void {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(value >>> 0, 0);
    this.page.write(offset, b);
  }

  indices(): RingIndices {
    return { reqCons: this.u32(REQ_CONS), reqProd: this.u32(REQ_PROD), rspCons: this.u32(RSP_CONS), rspProd: this.u32(RSP_PROD) };
  }

  /** Free room in req[]. */
  room(): number {
    return RING - ((this.u32(REQ_PROD) - this.u32(REQ_CONS)) >>> 0);
  }

  /** Copy `bytes` (which must fit) into req[], publish req_prod and wake the daemon. */
  put(bytes: Buffer): void {
    if (bytes.length > this.room()) throw new Error(`${bytes.length} bytes do not fit in req[] (${this.room()} free)`);
    const prod = this.u32(REQ_PROD);
    for (let i = 0; i < bytes.length; i++) this.page.write(REQ + ((prod + i) & (RING - 1)), bytes.subarray(i, i + 1));
    this.setU32(REQ_PROD, prod + bytes.length);
    this.page.kick();
  }

  /** Consume up to `max` bytes of rsp[] (all by default) and wake the daemon. */
  take(max = RING): Buffer {
    const cons = this.u32(RSP_CONS);
    const n = Math.min(max, (this.u32(RSP_PROD) - cons) >>> 0);
    const out = Buffer.alloc(n);
    for (let i = 0; i < n; i++) this.page.read(RSP + ((cons + i) & (RING - 1)), 1).copy(out, i);
    this.setU32(RSP_CONS, cons + n);
    this.page.kick();
    return out;
  }

  kick(): void {
    this.page.kick();
  }

  /** The words after the indices: what the daemon advertises and reports. */
  controlWords(): { serverFeatures: number; connection: number; error: number } {
    return { serverFeatures: this.u32(SERVER_FEATURES), connection: this.u32(CONNECTION), error: this.u32(ERROR) };
  }

  /** Set the page's `connection` word (XENSTORE_CONNECTED 0, XENSTORE_RECONNECT 1) and wake the daemon. */
  setConnection(value: number): void {
    this.setU32(CONNECTION, value);
    this.page.kick();
  }

  /** Hostile: set any index word of the page (offsets from xs-ring-offsets.ts) and wake the daemon. */
  setWord(offset: number, value: number): void {
    this.setU32(offset, value);
    this.page.kick();
  }

  /** Hostile: set req_prod to any value (impossible ones break the connection). */
  setReqProd(value: number): void {
    this.setU32(REQ_PROD, value);
    this.page.kick();
  }

  /** Hostile: set rsp_cons to any value (impossible ones break the connection). */
  setRspCons(value: number): void {
    this.setU32(RSP_CONS, value);
    this.page.kick();
  }

  close(): void {
    this.page.close();
  }
}

/** The oracle's guest page: the file <fx>/ring-<domid>, woken through the FIFO <fx>/evtchn. */
export function oracleRing(fxDir: string, domid: number): RawGuestRing {
  const fd = openSync(`${fxDir}/ring-${domid}`, 'r+');
  const ev = openSync(`${fxDir}/evtchn`, constants.O_WRONLY | constants.O_NONBLOCK);
  const port = Buffer.alloc(4);
  port.writeUInt32LE(1000 + domid);
  return new RawGuestRing({
    read(offset, length) {
      const b = Buffer.alloc(length);
      readSync(fd, b, 0, length, offset);
      return b;
    },
    write(offset, bytes) {
      writeSync(fd, bytes, 0, bytes.length, offset);
    },
    kick() {
      try {
        writeSync(ev, port);
      } catch {
        // The FIFO is full: the daemon has wake-ups queued already.
      }
    },
    close() {
      closeSync(fd);
      closeSync(ev);
    },
  });
}

/**
 * A GuestConnector for an in-process XenstoreServer: each introduced guest's page is plain
 * memory served by our DaemonRingStream, and ring(domid) is the test's hand on it. A kick
 * wakes the daemon's end on the next turn of the event loop, as an event channel would.
 */
export class PageGuests implements GuestConnector {
  private readonly pages = new Map<number, { buffer: ArrayBuffer; wake: () => void }>();

  connect(domid: number): ByteStream {
    const buffer = new ArrayBuffer(4096);
    let handler = (): void => {};
    const doorbell: RingDoorbell = {
      notify() {},
      listen(h) {
        handler = h;
      },
      close() {},
    };
    const stream = new DaemonRingStream(new XsRingPage(buffer, 0), doorbell);
    this.pages.set(domid, { buffer, wake: () => handler() });
    return stream;
  }

  ring(domid: number): RawGuestRing {
    const page = this.pages.get(domid);
    if (page === undefined) throw new Error(`domain ${domid} was not introduced`);
    const bytes = Buffer.from(page.buffer);
    return new RawGuestRing({
      read: (offset, length) => Buffer.from(bytes.subarray(offset, offset + length)),
      write: (offset, b) => b.copy(bytes, offset),
      kick: () => setImmediate(page.wake),
      close() {},
    });
  }
}

/**
 * Wait until `ring`'s indices stop moving (the daemon has done all it will do for now):
 * unchanged over `stableMs`, at most `timeoutMs`. The window is long enough that a daemon
 * descheduled mid-work on a loaded 2-core CI machine is not taken for one that has stopped.
 */
export async function settle(ring: RawGuestRing, stableMs = 150, timeoutMs = 5000): Promise<RingIndices> {
  const stepMs = 10;
  const deadline = Date.now() + timeoutMs;
  let last = JSON.stringify(ring.indices());
  let sameMs = 0;
  while (sameMs < stableMs && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, stepMs));
    const now = JSON.stringify(ring.indices());
    sameMs = now === last ? sameMs + stepMs : 0;
    last = now;
  }
  return ring.indices();
}
