import type { XsOps } from './api.js';
import { isXsErrno } from './errors.js';

export interface TransactionDriver {
  start(): Promise<number>;
  ops(txId: number): XsOps;
  end(txId: number, commit: boolean): Promise<void>;
}

/** Back-off before retry `attempt` (1-based): a few milliseconds, jittered, capped at 16 ms. */
function backoffMs(attempt: number): number {
  const ceiling = Math.min(2 ** (attempt - 1), 16);
  return ceiling * (0.5 + Math.random() / 2);
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Run `fn` inside a transaction and commit it. A commit answered EAGAIN (another writer touched
 * what we read) runs `fn` again in a fresh transaction, at most `retriesMax` more times, then
 * the last EAGAIN is thrown. An error from `fn` aborts the transaction and propagates (an
 * EAGAIN from inside `fn` is retried like one at commit).
 */
export async function runTransaction<T>(driver: TransactionDriver, fn: (tx: XsOps) => Promise<T>, retriesMax: number): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    const txId = await driver.start();
    let result: T;
    try {
      result = await fn(driver.ops(txId));
    } catch (error) {
      await driver.end(txId, false).catch(() => {
        // The transaction may already be gone (connection closed, daemon dropped it).
      });
      if (isXsErrno(error, 'EAGAIN') && attempt < retriesMax) {
        await sleep(backoffMs(attempt + 1));
        continue;
      }
      throw error;
    }
    try {
      await driver.end(txId, true);
      return result;
    } catch (error) {
      if (!isXsErrno(error, 'EAGAIN') || attempt >= retriesMax) throw error;
    }
    await sleep(backoffMs(attempt + 1));
  }
}
