import { assert } from '../../util/assert.js';
import { XENSTORE_RING_SIZE, XS_RING_INTERFACE_SIZE, XsRingOffset, maskXenstoreIdx, ringFill } from './layout.js';

/**
 * One half of the ring: req[] with req_cons/req_prod, or rsp[] with rsp_cons/rsp_prod. The guest
 * produces into req and consumes rsp; the daemon the other way round. The end is chosen once
 * when a stream is made, so the copy loops below never branch on who we are.
 */
export interface RingHalf {
  readonly name: 'req' | 'rsp';
  /** Byte offset of the data array within the interface. */
  readonly dataOffset: number;
  /** Index of the consumer's and producer's u32 words in the Uint32Array view. */
  readonly consWord: number;
  readonly prodWord: number;
}

export const REQ_HALF: RingHalf = {
  name: 'req',
  dataOffset: XsRingOffset.req,
  consWord: XsRingOffset.reqCons / 4,
  prodWord: XsRingOffset.reqProd / 4,
};

export const RSP_HALF: RingHalf = {
  name: 'rsp',
  dataOffset: XsRingOffset.rsp,
  consWord: XsRingOffset.rspCons / 4,
  prodWord: XsRingOffset.rspProd / 4,
};

/** The result of a copy that found the peer's indices impossible (more than a ring apart). */
export const RING_CORRUPT = -1;

/**
 * Typed views over a mapped `struct xenstore_domain_interface`. The page is shared with another
 * process, so every index word goes through Atomics (V8 compiles Atomics.load/store on x86-64 to
 * plain loads and `xchg` stores, the latter a full fence); each access below says what it orders.
 * All array positions are masked, so even a hostile peer's indices never address outside the page.
 */
export class XsRingPage {
  readonly bytes: Uint8Array;
  readonly words: Uint32Array;

  constructor(buffer: ArrayBuffer, byteOffset = 0) {
    assert(byteOffset % 4 === 0, 'ring page offset must be 4-byte aligned');
    assert(buffer.byteLength - byteOffset >= XS_RING_INTERFACE_SIZE, 'ring page too small');
    this.bytes = new Uint8Array(buffer, byteOffset, XS_RING_INTERFACE_SIZE);
    this.words = new Uint32Array(buffer, byteOffset, XS_RING_INTERFACE_SIZE / 4);
  }

  loadWord(byteOffset: number): number {
    return Atomics.load(this.words, byteOffset / 4);
  }

  storeWord(byteOffset: number, value: number): void {
    Atomics.store(this.words, byteOffset / 4, value >>> 0);
  }

  /** Unconsumed bytes in `half` as the page says now (RING_CORRUPT when impossible). */
  fill(half: RingHalf): number {
    const n = ringFill(Atomics.load(this.words, half.prodWord), Atomics.load(this.words, half.consWord));
    return n > XENSTORE_RING_SIZE ? RING_CORRUPT : n;
  }

  /**
   * Consume everything the producer has published in `half` (at most one ring's worth) into a
   * new Buffer. Returns null when empty, RING_CORRUPT when the indices are impossible.
   */
  consume(half: RingHalf): Buffer | null | typeof RING_CORRUPT {
    const out = this.peek(half);
    if (out !== null && out !== RING_CORRUPT) this.release(half, out.length);
    return out;
  }

  /**
   * Copy everything the producer has published in `half` (at most one ring's worth) into a new
   * Buffer without consuming it: release() then gives back the bytes actually taken (the
   * daemon stops reading a guest that is over a quota, leaving its requests in the ring).
   * Returns null when empty, RING_CORRUPT when the indices are impossible.
   */
  peek(half: RingHalf): Buffer | null | typeof RING_CORRUPT {
    // Acquire: loading prod before the data means every byte the producer wrote before it
    // published prod is visible to the copy below.
    const prod = Atomics.load(this.words, half.prodWord);
    const cons = Atomics.load(this.words, half.consWord);
    const n = ringFill(prod, cons);
    if (n > XENSTORE_RING_SIZE) return RING_CORRUPT;
    if (n === 0) return null;
    const out = Buffer.allocUnsafe(n);
    const start = maskXenstoreIdx(cons);
    const first = Math.min(n, XENSTORE_RING_SIZE - start);
    const base = half.dataOffset;
    out.set(this.bytes.subarray(base + start, base + start + first), 0);
    if (first < n) out.set(this.bytes.subarray(base, base + n - first), first);
    return out;
  }

  /** Advance `half`'s consumer index past `n` bytes that peek() copied out. */
  release(half: RingHalf, n: number): void {
    const cons = Atomics.load(this.words, half.consWord);
    // Release (full fence): the copy peek() made completes before the producer can see the
    // space freed by the new cons and overwrite those bytes.
    Atomics.store(this.words, half.consWord, (cons + n) >>> 0);
  }

  /**
   * Produce as much of `src[offset..]` as fits into `half`. Returns the bytes written (0 when
   * full), or RING_CORRUPT when the indices are impossible.
   */
  produce(half: RingHalf, src: Uint8Array, offset: number): number {
    // Acquire: loading cons before writing means the consumer has finished reading the bytes
    // we are about to reuse.
    const cons = Atomics.load(this.words, half.consWord);
    const prod = Atomics.load(this.words, half.prodWord);
    const fill = ringFill(prod, cons);
    if (fill > XENSTORE_RING_SIZE) return RING_CORRUPT;
    const n = Math.min(XENSTORE_RING_SIZE - fill, src.length - offset);
    if (n === 0) return 0;
    const start = maskXenstoreIdx(prod);
    const first = Math.min(n, XENSTORE_RING_SIZE - start);
    const base = half.dataOffset;
    this.bytes.set(src.subarray(offset, offset + first), base + start);
    if (first < n) this.bytes.set(src.subarray(offset + first, offset + n), base);
    // Release (full fence): the data bytes above are visible before the new prod that
    // publishes them.
    Atomics.store(this.words, half.prodWord, (prod + n) >>> 0);
    return n;
  }
}
