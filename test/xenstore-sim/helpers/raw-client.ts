import { connect, type Socket } from 'node:net';
import { XsFrameParser } from '../../../src/xenstore-sim/wire/parser.js';
import { XsType, type XsPacket } from '../../../src/xenstore-sim/wire/messages.js';

/** Encode a request independently of the code under test: header by hand, strings NUL-terminated. */
export function frame(type: number, reqId: number, txId: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(16);
  header.writeUInt32LE(type, 0);
  header.writeUInt32LE(reqId, 4);
  header.writeUInt32LE(txId, 8);
  header.writeUInt32LE(payload.length, 12);
  return Buffer.concat([header, payload]);
}

export function strings(...parts: string[]): Buffer {
  return Buffer.from(parts.map((p) => `${p}\0`).join(''), 'utf8');
}

/**
 * A raw xenstore client over a byte pipe: sends frames, collects replies and watch events in
 * arrival order. Used to drive the sim and the real C daemon identically.
 */
export class RawClient {
  private readonly parser = new XsFrameParser({ payloadMax: 1 << 20 });
  private readonly inbox: XsPacket[] = [];
  private waiters: (() => void)[] = [];
  private reqId = 100;
  closed = false;

  constructor(private readonly sendBytes: (buf: Buffer) => void, private readonly closeFn: () => void) {}

  static async unix(path: string): Promise<RawClient> {
    const socket: Socket = connect(path);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const client = new RawClient((buf) => socket.write(buf), () => socket.destroy());
    socket.on('data', (chunk) => client.receive(chunk));
    socket.on('close', () => client.markClosed());
    socket.on('error', () => {});
    return client;
  }

  receive(chunk: Buffer): void {
    this.parser.push(chunk);
    for (;;) {
      const next = this.parser.next();
      if (next.kind !== 'packet') break;
      this.inbox.push(next.packet);
    }
    this.wake();
  }

  markClosed(): void {
    this.closed = true;
    this.wake();
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  sendRaw(buf: Buffer): void {
    this.sendBytes(buf);
  }

  send(type: number, payload: Buffer, txId = 0): number {
    const reqId = ++this.reqId;
    this.sendBytes(frame(type, reqId, txId, payload));
    return reqId;
  }

  /** Wait for the reply to `reqId`; events that arrive first are returned with it. */
  async reply(reqId: number, timeoutMs = 5000): Promise<{ reply: XsPacket | undefined; events: XsPacket[] }> {
    const events: XsPacket[] = [];
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      while (this.inbox.length > 0) {
        const p = this.inbox.shift()!;
        if (p.type === XsType.WatchEvent) events.push(p);
        else if (p.reqId === reqId) return { reply: p, events };
      }
      if (this.closed || Date.now() > deadline) return { reply: undefined, events };
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  async request(type: number, payload: Buffer, txId = 0): Promise<{ reply: XsPacket | undefined; events: XsPacket[] }> {
    return this.reply(this.send(type, payload, txId));
  }

  /** Events delivered so far, made certain by a round trip (the daemon is single-threaded). */
  async sync(): Promise<XsPacket[]> {
    const { events } = await this.request(XsType.GetDomainPath, strings('0'));
    return events;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.closeFn();
  }
}
