import * as fs from 'node:fs';

import { SplitblkError } from '../util/errors.js';
import { PAGE_SIZE, type Mapping, type SharedMemoryApi, type SharedMemoryFile } from './api.js';
import type { RawBinding } from './binding.js';
import { fromNative } from './errors.js';

/**
 * Shared-memory files. Opening, sizing and closing are ordinary fs calls (libuv opens with
 * O_CLOEXEC); only mapping needs the addon. Mappings outlive the descriptor, as with mmap(2).
 */
export function createSharedMemory(binding: RawBinding): SharedMemoryApi {
  return {
    create(path, bytes, opts = {}) {
      const flags = fs.constants.O_RDWR | fs.constants.O_CREAT | (opts.exclusive ? fs.constants.O_EXCL : 0);
      const fd = openOrThrow(path, flags, opts.mode ?? 0o600);
      try {
        fs.ftruncateSync(fd, bytes);
      } catch (error) {
        fs.closeSync(fd);
        throw wrapFs(error, path);
      }
      return new ShmFile(binding, path, fd, true);
    },
    open(path, opts = {}) {
      const writable = opts.writable ?? true;
      const fd = openOrThrow(path, writable ? fs.constants.O_RDWR : fs.constants.O_RDONLY);
      return new ShmFile(binding, path, fd, writable);
    },
  };
}

function openOrThrow(path: string, flags: number, mode?: number): number {
  try {
    return fs.openSync(path, flags, mode);
  } catch (error) {
    throw wrapFs(error, path);
  }
}

function wrapFs(error: unknown, path: string): Error {
  const code = (error as NodeJS.ErrnoException).code;
  const errno = (error as NodeJS.ErrnoException).errno;
  return new SplitblkError('SPLITBLK_ERR_SHM', `${path}: ${(error as Error).message}`, {
    path,
    errnoCode: code,
    errno: errno === undefined ? undefined : -errno,
  }, { cause: error });
}

class ShmFile implements SharedMemoryFile {
  #fd: number;

  constructor(
    private readonly binding: RawBinding,
    readonly path: string,
    fd: number,
    private readonly fileWritable: boolean,
  ) {
    this.#fd = fd;
  }

  get fd(): number {
    return this.#fd;
  }

  size(): number {
    return fs.fstatSync(this.#openFd()).size;
  }

  resize(bytes: number): void {
    try {
      fs.ftruncateSync(this.#openFd(), bytes);
    } catch (error) {
      throw wrapFs(error, this.path);
    }
  }

  map(offset: number, length: number, writable: boolean): Mapping {
    this.#checkWritable(writable);
    if (offset % PAGE_SIZE !== 0 || length % PAGE_SIZE !== 0 || length <= 0) {
      throw new SplitblkError('SPLITBLK_ERR_MAP', `map(${offset}, ${length}): offset and length must be page-aligned, length > 0`, { path: this.path });
    }
    try {
      const [buffer, handle] = this.binding.mapFile(this.#openFd(), offset, length, writable);
      return new NativeMapping(this.binding, buffer, handle, writable);
    } catch (error) {
      throw fromNative(error, 'SPLITBLK_ERR_MAP', { path: this.path });
    }
  }

  mapPages(pages: Uint32Array, count: number, writable: boolean): Mapping {
    this.#checkWritable(writable);
    try {
      const [buffer, handle] = this.binding.mapPages(this.#openFd(), pages, count, writable);
      return new NativeMapping(this.binding, buffer, handle, writable);
    } catch (error) {
      throw fromNative(error, 'SPLITBLK_ERR_MAP', { path: this.path });
    }
  }

  close(): void {
    if (this.#fd < 0) return;
    fs.closeSync(this.#fd);
    this.#fd = -1;
  }

  #openFd(): number {
    if (this.#fd < 0) throw new SplitblkError('SPLITBLK_ERR_CLOSED', `${this.path} is closed`, { path: this.path });
    return this.#fd;
  }

  #checkWritable(writable: boolean): void {
    if (writable && !this.fileWritable) {
      throw new SplitblkError('SPLITBLK_ERR_MAP', `${this.path} was opened read-only`, { path: this.path });
    }
  }
}

class NativeMapping implements Mapping {
  #handle: object | null;

  constructor(
    private readonly binding: RawBinding,
    readonly buffer: ArrayBuffer,
    handle: object,
    readonly writable: boolean,
  ) {
    this.#handle = handle;
  }

  close(): void {
    if (this.#handle === null) return;
    this.binding.unmap(this.buffer, this.#handle);
    this.#handle = null;
  }
}
