/**
 * Self-describing sector contents for verified I/O. Every 512-byte sector the frontend writes
 * starts with a header — a magic, its own sector number, a generation and a checksum over the
 * whole sector — and is filled with a stream derived from (sector, generation). Reading a
 * sector back tells which write it holds, so
 *   - a misplaced write (data landed on another sector) shows as a wrong sector number,
 *   - a stale or lost write as an older generation (or no header at all) than the last one
 *     acknowledged for that sector,
 *   - corruption as a bad checksum.
 *
 * Layout (u32 words, little-endian):  0 magic 'SBLK' | 1 sector lo | 2 sector hi |
 * 3 generation | 4 checksum (FNV-1a over words 0..127 with word 4 taken as 0) | 5..127 payload.
 */
import { BLKIF_SECTOR_BYTES } from '../blkback/protocol/ops.js';

export const VERIFY_MAGIC = 0x4b4c4253; // 'SBLK' little-endian
const WORDS = BLKIF_SECTOR_BYTES / 4;
const W_MAGIC = 0;
const W_SECTOR_LO = 1;
const W_SECTOR_HI = 2;
const W_GENERATION = 3;
const W_CHECKSUM = 4;
const W_PAYLOAD = 5;
const TWO_32 = 2 ** 32;

export type VerifyErrorKind = 'lost' | 'stale' | 'misplaced' | 'corrupt' | 'unexpected';

export interface VerifyError {
  kind: VerifyErrorKind;
  sector: number;
  /** The generation expected (0: none known) and the one found. */
  expected: number;
  found: number;
  /** The sector number the data claims to be (for misplaced). */
  foundSector?: number;
}

function checksum(w: Uint32Array, base: number): number {
  let h = 2166136261;
  for (let i = 0; i < WORDS; i++) {
    h ^= i === W_CHECKSUM ? 0 : w[base + i]!;
    h = Math.imul(h, 16777619);
  }
  return h >>> 0;
}

/** Stamp `count` sectors of `words` (from word `base`), starting at disk sector `sector`. */
export function stampSectors(words: Uint32Array, base: number, sector: number, count: number, generation: number): void {
  for (let s = 0; s < count; s++) {
    const b = base + s * WORDS;
    const lba = sector + s;
    words[b + W_MAGIC] = VERIFY_MAGIC;
    words[b + W_SECTOR_LO] = lba >>> 0;
    words[b + W_SECTOR_HI] = Math.floor(lba / TWO_32);
    words[b + W_GENERATION] = generation >>> 0;
    words[b + W_CHECKSUM] = 0;
    // xorshift32 seeded by (sector, generation): different for every write of every sector.
    let x = (Math.imul(lba >>> 0, 0x9e3779b1) ^ Math.imul(generation, 0x85ebca6b) ^ 0x2545f491) >>> 0 || 1;
    for (let i = W_PAYLOAD; i < WORDS; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      words[b + i] = x >>> 0;
    }
    words[b + W_CHECKSUM] = checksum(words, b);
  }
}

/**
 * Check one sector read back from `sector`. `expected` is the generation of the last write
 * acknowledged for it (0 when this run never wrote it: then only self-consistency is checked,
 * and a sector without a header is fine). Returns undefined when it is right.
 */
export function checkSector(words: Uint32Array, base: number, sector: number, expected: number): VerifyError | undefined {
  const magic = words[base + W_MAGIC];
  if (magic !== VERIFY_MAGIC) {
    return expected === 0 ? undefined : { kind: 'lost', sector, expected, found: 0 };
  }
  const found = words[base + W_GENERATION]!;
  if (checksum(words, base) !== words[base + W_CHECKSUM]) return { kind: 'corrupt', sector, expected, found };
  const foundSector = words[base + W_SECTOR_LO]! + words[base + W_SECTOR_HI]! * TWO_32;
  if (foundSector !== sector) return { kind: 'misplaced', sector, expected, found, foundSector };
  if (expected === 0) return undefined;
  if (found < expected) return { kind: 'stale', sector, expected, found };
  if (found > expected) return { kind: 'unexpected', sector, expected, found };
  return undefined;
}

/** Whether a sector carries a valid header (for counting what a read-only pass could check). */
export function hasHeader(words: Uint32Array, base: number): boolean {
  return words[base + W_MAGIC] === VERIFY_MAGIC;
}

/** What verification found, bounded in memory: counts plus the first few errors. */
export class VerifyReport {
  sectorsChecked = 0;
  /** Sectors that carried a header written by some run (checked for self-consistency). */
  sectorsWithHeader = 0;
  errorCount = 0;
  readonly errors: VerifyError[] = [];
  constructor(private readonly errorsKeptMax = 16) {}

  add(error: VerifyError): void {
    this.errorCount++;
    if (this.errors.length < this.errorsKeptMax) this.errors.push(error);
  }

  get ok(): boolean {
    return this.errorCount === 0;
  }
}

/**
 * Check `count` sectors read into `words` at `base`, against per-sector expected generations
 * given by `expectedOf(sector)`.
 */
export function checkSectors(
  words: Uint32Array,
  base: number,
  sector: number,
  count: number,
  expectedOf: (sector: number) => number,
  report: VerifyReport,
): void {
  for (let s = 0; s < count; s++) {
    const b = base + s * WORDS;
    const error = checkSector(words, b, sector + s, expectedOf(sector + s));
    report.sectorsChecked++;
    if (hasHeader(words, b)) report.sectorsWithHeader++;
    if (error !== undefined) report.add(error);
  }
}
