/**
 * Scatter lists as arrays of byte views, and full-length vectored file I/O on them
 * (FileHandle.readv / writev are preadv / pwritev underneath).
 */
import type { FileHandle } from 'node:fs/promises';

export type Iov = Uint8Array[];

export function iovBytes(iov: Iov): number {
  let n = 0;
  for (const v of iov) n += v.length;
  return n;
}

/** Views of bytes [off, off+len) of the scatter list (no copy). */
export function iovSlice(iov: Iov, off: number, len: number): Iov {
  const out: Iov = [];
  let skip = off;
  let want = len;
  for (const v of iov) {
    if (want === 0) break;
    if (skip >= v.length) {
      skip -= v.length;
      continue;
    }
    const n = Math.min(v.length - skip, want);
    out.push(v.subarray(skip, skip + n));
    want -= n;
    skip = 0;
  }
  return out;
}

export function iovZero(iov: Iov): void {
  for (const v of iov) v.fill(0);
}

/** Read exactly the list's length at `position`; bytes past the end of the file read as zeros. */
export async function readvFull(fh: FileHandle, iov: Iov, position: number): Promise<void> {
  let rest = iov;
  let pos = position;
  let want = iovBytes(iov);
  while (want > 0) {
    const { bytesRead } = await fh.readv(rest, pos);
    if (bytesRead === 0) {
      iovZero(rest);
      return;
    }
    want -= bytesRead;
    pos += bytesRead;
    rest = iovSlice(rest, bytesRead, want);
  }
}

export async function writevFull(fh: FileHandle, iov: Iov, position: number): Promise<void> {
  let rest = iov;
  let pos = position;
  let want = iovBytes(iov);
  while (want > 0) {
    const { bytesWritten } = await fh.writev(rest, pos);
    want -= bytesWritten;
    pos += bytesWritten;
    rest = iovSlice(rest, bytesWritten, want);
  }
}

export async function writeFull(fh: FileHandle, bytes: Uint8Array, position: number): Promise<void> {
  await writevFull(fh, [bytes], position);
}

export async function readExact(fh: FileHandle, length: number, position: number): Promise<Uint8Array> {
  const buf = new Uint8Array(length);
  await readvFull(fh, [buf], position);
  return buf;
}
