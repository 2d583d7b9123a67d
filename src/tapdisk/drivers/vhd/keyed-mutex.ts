/**
 * Per-key serialisation: `run(key, fn)` starts fn after every earlier fn for the same key has
 * settled. The VHD driver keys metadata updates by block number, so two writes that allocate or
 * extend the bitmap of one block never interleave. Not re-entrant: fn must not run() the same key.
 */
export class KeyedMutex {
  private readonly tails = new Map<number, Promise<void>>();

  run<T>(key: number, fn: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    const result = prev.then(fn);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(key, tail);
    void tail.then(() => {
      // Drop the entry once nothing is queued behind it, so the map stays bounded by the
      // number of blocks with work in flight.
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }

  /** Keys with work queued or running. */
  get size(): number {
    return this.tails.size;
  }
}
