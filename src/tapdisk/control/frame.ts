import { SplitblkError } from '../../util/errors.js';
import { ERR_FRAME_TOO_LARGE } from '../errors.js';

/**
 * Control-plane framing: each message is a 4-byte big-endian length, then that many bytes.
 * The parser is incremental, like the xenstore one: feed it chunks as they arrive and ask for
 * the next result until it needs more data.
 */
export const FRAME_HEADER_SIZE = 4;
export const FRAME_BYTES_MAX_DEFAULT = 1024 * 1024;

export type FrameResult =
  | { kind: 'need'; bytes: number }
  | { kind: 'packet'; payload: Uint8Array }
  | { kind: 'error'; error: SplitblkError };

export class FrameParser {
  private chunks: Uint8Array[] = [];
  private buffered = 0;
  private failed: SplitblkError | null = null;

  constructor(private readonly frameBytesMax = FRAME_BYTES_MAX_DEFAULT) {}

  push(chunk: Uint8Array): void {
    if (chunk.length === 0 || this.failed) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
  }

  /** The next frame, how many more bytes the next one needs, or the (sticky) error. */
  next(): FrameResult {
    if (this.failed) return { kind: 'error', error: this.failed };
    if (this.buffered < FRAME_HEADER_SIZE) return { kind: 'need', bytes: FRAME_HEADER_SIZE - this.buffered };
    const head = this.peek(FRAME_HEADER_SIZE);
    const length = new DataView(head.buffer, head.byteOffset, FRAME_HEADER_SIZE).getUint32(0, false);
    if (length > this.frameBytesMax) {
      this.failed = new SplitblkError(ERR_FRAME_TOO_LARGE,
        `control frame of ${length} bytes exceeds the limit of ${this.frameBytesMax}`, { length });
      this.chunks = [];
      this.buffered = 0;
      return { kind: 'error', error: this.failed };
    }
    if (this.buffered < FRAME_HEADER_SIZE + length) {
      return { kind: 'need', bytes: FRAME_HEADER_SIZE + length - this.buffered };
    }
    const frame = this.take(FRAME_HEADER_SIZE + length);
    return { kind: 'packet', payload: frame.subarray(FRAME_HEADER_SIZE) };
  }

  /** The first n buffered bytes, joined into the first chunk if they span several. */
  private peek(n: number): Uint8Array {
    if (this.chunks[0]!.length < n) {
      const all = Buffer.concat(this.chunks);
      this.chunks = [all];
    }
    return this.chunks[0]!.subarray(0, n);
  }

  private take(n: number): Uint8Array {
    const head = this.peek(n);
    const first = this.chunks[0]!;
    if (first.length === n) this.chunks.shift();
    else this.chunks[0] = first.subarray(n);
    this.buffered -= n;
    return head;
  }
}

/** Prefix `payload` with its length. */
export function frame(payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER_SIZE + payload.length);
  out.writeUInt32BE(payload.length, 0);
  out.set(payload, FRAME_HEADER_SIZE);
  return out;
}
