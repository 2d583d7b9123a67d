/**
 * The TypeScript side of the ring differential test: the same script language as
 * test/ring/ring_script.c, run on FrontRing and BackRing over one ArrayBuffer, printing the
 * same lines. Also a seeded generator of valid scripts.
 */
import { BackRing } from '../../src/ring/back.js';
import { FrontRing } from '../../src/ring/front.js';
import type { RingLayout } from '../../src/ring/sring.js';
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

export function runScript(script: string, layout: RingLayout = BLKIF_X86_64): string {
  const out: string[] = [];
  let buffer = new ArrayBuffer(0);
  let front: FrontRing | undefined;
  let back: BackRing | undefined;
  let reqSeq = 0;
  let rspSeq = 0;
  const words = script.split(/\s+/).filter((w) => w !== '');
  const f = () => front!;
  const b = () => back!;
  for (let i = 0; i < words.length; i++) {
    const cmd = words[i]!;
    const arg = () => Number(words[++i]);
    switch (cmd) {
      case 'init': {
        const pages = arg();
        const start = arg();
        buffer = new ArrayBuffer(pages * 4096);
        front = FrontRing.initAt(buffer, 0, buffer.byteLength, layout, start);
        back = BackRing.attach(buffer, 0, buffer.byteLength, layout, start);
        out.push(`size ${front.size}`);
        break;
      }
      case 'req': {
        const n = arg();
        for (let k = 0; k < n; k++, reqSeq++) {
          const off = f().produceRequest();
          for (let j = 0; j < layout.requestSize; j++) f().sring.bytes[off + j] = (reqSeq * 31 + j * 7 + 1) & 0xff;
        }
        out.push(`req ${n}`);
        break;
      }
      case 'push':
        out.push(`notify-req ${f().pushRequestsAndCheckNotify() ? 1 : 0}`);
        break;
      case 'cons': {
        const n = arg();
        for (let k = 0; k < n; k++) {
          if (b().requestConsOverflow(b().reqCons)) {
            out.push('cons-overflow');
            break;
          }
          const copy = b().sring.bytes.slice(b().requestSlot(b().reqCons), b().requestSlot(b().reqCons) + layout.requestSize);
          b().reqCons = (b().reqCons + 1) >>> 0;
          out.push(`got-req ${fnv1a(copy, 0, copy.length)}`);
        }
        break;
      }
      case 'rsp': {
        const n = arg();
        for (let k = 0; k < n; k++, rspSeq++) {
          const off = b().produceResponse();
          for (let j = 0; j < layout.responseSize; j++) b().sring.bytes[off + j] = (rspSeq * 13 + j * 5 + 3) & 0xff;
        }
        out.push(`rsp ${n}`);
        break;
      }
      case 'pushrsp':
        out.push(`notify-rsp ${b().pushResponsesAndCheckNotify() ? 1 : 0}`);
        break;
      case 'rcons': {
        const n = arg();
        for (let k = 0; k < n; k++) {
          out.push(`got-rsp ${fnv1a(f().sring.bytes, f().responseSlot(f().rspCons), layout.responseSize)}`);
          f().rspCons = (f().rspCons + 1) >>> 0;
        }
        break;
      }
      case 'fcreq':
        out.push(`fc-req ${b().finalCheckForRequests() ? 1 : 0}`);
        break;
      case 'fcrsp':
        out.push(`fc-rsp ${f().finalCheckForResponses() ? 1 : 0}`);
        break;
      case 'unc-req':
        out.push(`unc-req ${b().unconsumedRequests()}`);
        break;
      case 'unc-rsp':
        out.push(`unc-rsp ${f().unconsumedResponses()}`);
        break;
      case 'free':
        out.push(`free ${f().freeRequests()} full ${f().full() ? 1 : 0}`);
        break;
      case 'dump':
        out.push(`dump ${Buffer.from(buffer).toString('hex')}`);
        break;
      default:
        throw new Error(`unknown script command ${cmd}`);
    }
  }
  return out.map((l) => `${l}\n`).join('');
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
