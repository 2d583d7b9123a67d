// Imported: the global Buffer is a getter in Node 20, called at every use on the request path.
import { Buffer } from 'node:buffer';
import {
  XS_HEADER_LEN_OFFSET, XS_HEADER_REQ_ID_OFFSET, XS_HEADER_SIZE, XS_HEADER_TX_ID_OFFSET,
  XS_HEADER_TYPE_OFFSET, XsType, type XsPacket,
} from './messages.js';

const XS_WATCH_EVENT = XsType.WatchEvent;

/** Write a struct xsd_sockmsg header for `len` payload bytes at `offset` of `out`. */
export function writeHeader(out: Buffer, offset: number, type: number, reqId: number, txId: number, len: number): void {
  putU32le(out, offset + XS_HEADER_TYPE_OFFSET, type);
  putU32le(out, offset + XS_HEADER_REQ_ID_OFFSET, reqId);
  putU32le(out, offset + XS_HEADER_TX_ID_OFFSET, txId);
  putU32le(out, offset + XS_HEADER_LEN_OFFSET, len);
}

/** Store the low 32 bits of `value` little-endian (byte stores: no per-call argument checks). */
function putU32le(out: Buffer, offset: number, value: number): void {
  out[offset] = value & 0xff;
  out[offset + 1] = (value >>> 8) & 0xff;
  out[offset + 2] = (value >>> 16) & 0xff;
  out[offset + 3] = (value >>> 24) & 0xff;
}

/** One frame: header and payload in one Buffer. The payload length is not checked here. */
export function encodePacket(type: number, reqId: number, txId: number, payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(XS_HEADER_SIZE + payload.length);
  writeHeader(out, 0, type, reqId, txId, payload.length);
  out.set(payload, XS_HEADER_SIZE);
  return out;
}

/**
 * An XS_WATCH_EVENT frame "path\0token\0" built in one allocation (events are the daemon's
 * most frequent unsolicited frame). The token is kept encoded since registration.
 */
export function encodeWatchEvent(path: string, token: Uint8Array): Buffer {
  const pathBytes = Buffer.byteLength(path, 'utf8');
  const len = pathBytes + 1 + token.length + 1;
  const out = Buffer.allocUnsafe(XS_HEADER_SIZE + len);
  writeHeader(out, 0, XS_WATCH_EVENT, 0, 0, len);
  let offset = XS_HEADER_SIZE + out.write(path, XS_HEADER_SIZE, 'utf8');
  out[offset++] = 0;
  out.set(token, offset);
  out[offset + token.length] = 0;
  return out;
}

export function encodeXsPacket(packet: XsPacket): Buffer {
  return encodePacket(packet.type, packet.reqId, packet.txId, packet.payload);
}

/** "a\0b\0": each string followed by a NUL (the form of most requests and of watch events). */
export function nulTerminated(...parts: (string | Uint8Array)[]): Buffer {
  const bufs: Buffer[] = [];
  for (const part of parts) {
    bufs.push(typeof part === 'string' ? Buffer.from(part, 'utf8') : Buffer.from(part.buffer, part.byteOffset, part.length));
    bufs.push(NUL);
  }
  return Buffer.concat(bufs);
}

/**
 * "path\0value": the strings NUL-separated with no NUL after the last part (the form of
 * XS_WRITE, whose value runs to the end of the payload and may itself hold NULs).
 */
export function nulSeparated(...parts: (string | Uint8Array)[]): Buffer {
  const bufs: Buffer[] = [];
  parts.forEach((part, i) => {
    if (i > 0) bufs.push(NUL);
    bufs.push(typeof part === 'string' ? Buffer.from(part, 'utf8') : Buffer.from(part.buffer, part.byteOffset, part.length));
  });
  return Buffer.concat(bufs);
}

/**
 * Split a payload at NULs into strings. A trailing NUL ends the last string rather than
 * starting an empty one ("a\0b\0" gives ["a", "b"]; "a\0b" gives ["a", "b"] too).
 */
export function splitNul(payload: Uint8Array): string[] {
  const buf = Buffer.isBuffer(payload) ? payload : Buffer.from(payload.buffer, payload.byteOffset, payload.length);
  const out: string[] = [];
  let start = 0;
  for (let i = 0; i < buf.length; i++) {
    if (buf[i] === 0) {
      out.push(buf.toString('utf8', start, i));
      start = i + 1;
    }
  }
  if (start < buf.length) out.push(buf.toString('utf8', start));
  return out;
}

const NUL = Buffer.from([0]);
