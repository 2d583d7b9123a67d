import * as fs from 'node:fs';

import { SplitblkError } from '../util/errors.js';
import type { Bell, Doorbell, DoorbellApi } from './api.js';
import type { RawBinding, RawDoorbellListener } from './binding.js';
import { fromNative } from './errors.js';

/** ring() results from the addon that mean "the receiver is gone" (see native/doorbell.cc). */
const EPIPE = 32;
const ENXIO = 6;
const ENOENT = 2;
const EBADF = 9;

/**
 * Doorbells: a FIFO per doorbell, watched by uv_poll in the addon. See docs/native.md for why a
 * FIFO (any language can ring with write(2) on a path; rings coalesce; no thread).
 */
export function createDoorbells(binding: RawBinding): DoorbellApi {
  return {
    listen(path, onRing) {
      try {
        return new FifoDoorbell(path, new binding.DoorbellListener(path, onRing));
      } catch (error) {
        throw fromNative(error, 'SPLITBLK_ERR_DOORBELL', { path });
      }
    },
    connect(path) {
      try {
        return new FifoBell(binding, path, binding.bellOpen(path));
      } catch (error) {
        const errno = (error as { errno?: number }).errno;
        if (errno === ENXIO || errno === ENOENT) {
          throw new SplitblkError('SPLITBLK_ERR_NO_DOORBELL', `no doorbell listens at ${path}`, { path, errno }, { cause: error });
        }
        throw fromNative(error, 'SPLITBLK_ERR_DOORBELL', { path });
      }
    },
  };
}

class FifoDoorbell implements Doorbell {
  #listener: RawDoorbellListener | null;

  constructor(readonly path: string, listener: RawDoorbellListener) {
    this.#listener = listener;
  }

  ref(): void {
    this.#listener?.ref();
  }

  unref(): void {
    this.#listener?.unref();
  }

  close(opts: { unlink?: boolean } = {}): void {
    if (this.#listener === null) return;
    this.#listener.close();
    this.#listener = null;
    if (opts.unlink) fs.rmSync(this.path, { force: true });
  }
}

class FifoBell implements Bell {
  #fd: number;

  constructor(private readonly binding: RawBinding, readonly path: string, fd: number) {
    this.#fd = fd;
  }

  ring(): boolean {
    if (this.#fd < 0) return false;
    const result = this.binding.ring(this.#fd);
    if (result >= 0) return true;
    if (result === -EPIPE || result === -ENXIO || result === -EBADF) return false;
    throw new SplitblkError('SPLITBLK_ERR_DOORBELL', `ring ${this.path}: errno ${-result}`, { path: this.path, errno: -result });
  }

  close(): void {
    if (this.#fd < 0) return;
    this.binding.closeFd(this.#fd);
    this.#fd = -1;
  }
}
