/**
 * The TypeScript side of the ring differential test: the same script language as
 * test/ring/ring_script.c, run on FrontRing and BackRing over one ArrayBuffer, printing the
 * same lines. Also a seeded generator of valid scripts.
 */
import { BackRing } from '../../src/ring/back.js';
import { FrontRing } from '../../src/ring/front.js';
import type { RingLayout } from '../../src/ring/sring.js';
import { PAGE_SIZE } from '../../src/native/api.js';
import { prng } from '../helpers/prng.js';

/** sizeof(struct blkif_request) and sizeof(struct blkif_response) on x86_64, as the C side. */
export const BLKIF_X86_64: RingLayout = { requestSize: 112, responseSize: 16 };

function fnv1a(bytes: Uint8Array, offset: number, length: number): string {
  let h = 2166136261;
  for (let i = 0; i < length; i++) {
    h ^= bytes[offset + i]!;
    h = Math.imul(h, 16777619) >>> 0;
  }
  return h.toString(16).padStart(8, '0');
}

/** The rings one script drives, and the counters that make its slot contents deterministic. */
class ScriptState {
  readonly out: string[] = [];
  buffer = new ArrayBuffer(0);
  private frontRing: FrontRing | undefined;
  private backRing: BackRing | undefined;
  reqSeq = 0;
  rspSeq = 0;

  constructor(readonly layout: RingLayout) {}

  get front(): FrontRing {
    if (this.frontRing === undefined) throw new Error('script: init must come first');
    return this.frontRing;
  }

  get back(): BackRing {
    if (this.backRing === undefined) throw new Error('script: init must come first');
    return this.backRing;
  }

  init(pages: number, start: number): void {
    this.buffer = new ArrayBuffer(pages * PAGE_SIZE);
    this.frontRing = FrontRing.initAt(this.buffer, 0, this.buffer.byteLength, this.layout, start);
    this.backRing = BackRing.attach(this.buffer, 0, this.buffer.byteLength, this.layout, start);
    this.out.push(`size ${this.frontRing.size}`);
  }

  /** Produce `n` requests whose bytes follow from their sequence number, as the C side. */
  produceRequests(n: number): void {
    const f = this.front;
    for (let k = 0; k < n; k++, this.reqSeq++) {
      const off = f.produceRequest();
      for (let j = 0; j < this.layout.requestSize; j++) f.sring.bytes[off + j] = (this.reqSeq * 31 + j * 7 + 1) & 0xff;
    }
    this.out.push(`req ${n}`);
  }

  consumeRequests(n: number): void {
    const b = this.back;
    for (let k = 0; k < n; k++) {
      if (b.requestConsOverflow(b.reqCons)) {
        this.out.push('cons-overflow');
        break;
      }
      const copy = b.sring.bytes.slice(b.requestSlot(b.reqCons), b.requestSlot(b.reqCons) + this.layout.requestSize);
      b.reqCons = (b.reqCons + 1) >>> 0;
      this.out.push(`got-req ${fnv1a(copy, 0, copy.length)}`);
    }
  }

  /** Produce `n` responses whose bytes follow from their sequence number, as the C side. */
  produceResponses(n: number): void {
    const b = this.back;
    for (let k = 0; k < n; k++, this.rspSeq++) {
      const off = b.produceResponse();
      for (let j = 0; j < this.layout.responseSize; j++) b.sring.bytes[off + j] = (this.rspSeq * 13 + j * 5 + 3) & 0xff;
    }
    this.out.push(`rsp ${n}`);
  }

  consumeResponses(n: number): void {
    const f = this.front;
    for (let k = 0; k < n; k++) {
      this.out.push(`got-rsp ${fnv1a(f.sring.bytes, f.responseSlot(f.rspCons), this.layout.responseSize)}`);
      f.rspCons = (f.rspCons + 1) >>> 0;
    }
  }
}

const flag = (b: boolean): number => (b ? 1 : 0);

/** Each command of the script language: how many numeric arguments it takes, and what it does. */
const COMMANDS: Record<string, { args: number; run: (s: ScriptState, a: number[]) => void }> = {
  init: { args: 2, run: (s, a) => s.init(a[0]!, a[1]!) },
  req: { args: 1, run: (s, a) => s.produceRequests(a[0]!) },
  push: { args: 0, run: (s) => s.out.push(`notify-req ${flag(s.front.pushRequestsAndCheckNotify())}`) },
  cons: { args: 1, run: (s, a) => s.consumeRequests(a[0]!) },
  rsp: { args: 1, run: (s, a) => s.produceResponses(a[0]!) },
  pushrsp: { args: 0, run: (s) => s.out.push(`notify-rsp ${flag(s.back.pushResponsesAndCheckNotify())}`) },
  rcons: { args: 1, run: (s, a) => s.consumeResponses(a[0]!) },
  fcreq: { args: 0, run: (s) => s.out.push(`fc-req ${flag(s.back.finalCheckForRequests())}`) },
  fcrsp: { args: 0, run: (s) => s.out.push(`fc-rsp ${flag(s.front.finalCheckForResponses())}`) },
  'unc-req': { args: 0, run: (s) => s.out.push(`unc-req ${s.back.unconsumedRequests()}`) },
  'unc-rsp': { args: 0, run: (s) => s.out.push(`unc-rsp ${s.front.unconsumedResponses()}`) },
  free: { args: 0, run: (s) => s.out.push(`free ${s.front.freeRequests()} full ${flag(s.front.full())}`) },
  dump: { args: 0, run: (s) => s.out.push(`dump ${Buffer.from(s.buffer).toString('hex')}`) },
};

export function runScript(script: string, layout: RingLayout = BLKIF_X86_64): string {
  const state = new ScriptState(layout);
  const words = script.split(/\s+/).filter((w) => w !== '');
  for (let i = 0; i < words.length; ) {
    const cmd = words[i++]!;
    const command = Object.hasOwn(COMMANDS, cmd) ? COMMANDS[cmd] : undefined;
    if (command === undefined) throw new Error(`unknown script command ${cmd}`);
    const args = words.slice(i, i + command.args).map(Number);
    i += command.args;
    command.run(state, args);
  }
  return state.out.map((l) => `${l}\n`).join('');
}


/**
 * A random script that keeps to the ring protocol (never more requests than free slots, never
 * a response for an unconsumed request), `steps` operations long, with dumps along the way.
 */
export function randomScript(seed: number, pages: number, start: number, steps: number, size: number): string {
  const rnd = prng(seed);
  const pick = (n: number) => Math.floor(rnd() * (n + 1));
  const lines = [`init ${pages} ${start}`];
  let reqPvt = 0;
  let reqPushed = 0;
  let reqCons = 0;
  let rspPvt = 0;
  let rspPushed = 0;
  let rspCons = 0;
  for (let s = 0; s < steps; s++) {
    switch (Math.floor(rnd() * 12)) {
      case 0:
      case 1: {
        const n = pick(size - (reqPvt - rspCons));
        reqPvt += n;
        lines.push(`req ${n}`);
        break;
      }
      case 2:
        reqPushed = reqPvt;
        lines.push('push');
        break;
      case 3: {
        const n = pick(reqPushed - reqCons);
        reqCons += n;
        lines.push(`cons ${n}`);
        break;
      }
      case 4: {
        const n = pick(reqCons - rspPvt);
        rspPvt += n;
        lines.push(`rsp ${n}`);
        break;
      }
      case 5:
        rspPushed = rspPvt;
        lines.push('pushrsp');
        break;
      case 6: {
        const n = pick(rspPushed - rspCons);
        rspCons += n;
        lines.push(`rcons ${n}`);
        break;
      }
      case 7:
        lines.push('fcreq');
        break;
      case 8:
        lines.push('fcrsp');
        break;
      case 9:
        lines.push(rnd() < 0.5 ? 'unc-req' : 'unc-rsp');
        break;
      case 10:
        lines.push('free');
        break;
      default:
        if (rnd() < 0.2) lines.push('dump');
    }
  }
  lines.push('dump');
  return `${lines.join('\n')}\n`;
}
