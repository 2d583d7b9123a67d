/**
 * Early write-back for a long copy into one file (coalesce). A copy that only syncs at the end
 * leaves every byte it wrote dirty in the page cache, and the final fdatasync then waits for the
 * disk to take all of them while the CPU has nothing left to do. Starting an fdatasync in the
 * background every `bytesPer` bytes lets the disk write what was copied so far while the copy
 * goes on, so the final sync finds little left. These syncs are extra: they never replace the
 * ones the metadata ordering needs (coalesce-sink.ts), and one more sync never breaks an order.
 */
import type { FileHandle } from 'node:fs/promises';

/** Bytes written between two background syncs: large enough that the sync's fixed cost is small. */
export const WRITEBACK_BYTES_DEFAULT = 8 << 20;

export class Writeback {
  private dirty = 0;
  private inflight: Promise<void> | undefined;
  private failure: { error: unknown } | undefined;

  constructor(
    private readonly fh: FileHandle,
    private readonly bytesPer = WRITEBACK_BYTES_DEFAULT,
  ) {}

  /** Count bytes just written; starts a background sync once enough are dirty (one at a time). */
  wrote(bytes: number): void {
    this.dirty += bytes;
    if (this.dirty < this.bytesPer || this.inflight !== undefined || this.failure !== undefined) return;
    this.dirty = 0;
    this.inflight = this.fh.datasync().then(
      () => {
        this.inflight = undefined;
      },
      (error: unknown) => {
        // Kept, not thrown here: the copy's next settle() reports it (write-back errors are
        // the file's, and the final sync would meet them too).
        this.failure = { error };
        this.inflight = undefined;
      },
    );
  }

  /** Wait for the background sync in flight, if any; throws what a background sync met. */
  async settle(): Promise<void> {
    await this.inflight;
    if (this.failure !== undefined) throw this.failure.error;
  }
}
