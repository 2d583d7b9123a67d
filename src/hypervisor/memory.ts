import type { Mapping, NativeApi } from '../native/api.js';
import { PAGE_SIZE } from '../native/api.js';
import type { DomId, GuestMemory } from './api.js';
import { exhaustedError, noDomainError } from './errors.js';
import { SplitblkError } from '../util/errors.js';
import { HypervisorError } from './api.js';
import type { RunDir } from './rundir.js';

/**
 * A guest process's own memory: the whole memory file mapped writable, and a first-fit page
 * allocator over it. The allocator's state is this process's (a guest kernel's allocator is
 * private to it too); frames below `reservedPages` (xenstore and console rings) are never
 * handed out.
 */
export class GuestMemoryImpl implements GuestMemory {
  readonly pages: number;
  readonly buffer: ArrayBuffer;
  private readonly mapping: Mapping;
  /** One byte per page: 1 = allocated or reserved. */
  private readonly used: Uint8Array;
  /** Where the next search starts (the lowest page that may be free). */
  private searchFrom: number;

  constructor(
    readonly domid: DomId,
    readonly reservedPages: number,
    native: NativeApi,
    dirs: RunDir,
  ) {
    let file;
    try {
      file = native.shm.open(dirs.memory(domid), { writable: true });
    } catch (error) {
      throw noDomainError(domid, error);
    }
    try {
      this.pages = Math.floor(file.size() / PAGE_SIZE);
      this.mapping = file.map(0, this.pages * PAGE_SIZE, true);
    } finally {
      file.close();
    }
    this.buffer = this.mapping.buffer;
    this.used = new Uint8Array(this.pages);
    this.used.fill(1, 0, Math.min(reservedPages, this.pages));
    this.searchFrom = Math.min(reservedPages, this.pages);
  }

  allocPages(count: number): number {
    if (!Number.isInteger(count) || count < 1) {
      throw new SplitblkError(HypervisorError.Invalid, `cannot allocate ${count} pages`, { domid: this.domid });
    }
    let run = 0;
    for (let gfn = this.searchFrom; gfn < this.pages; gfn++) {
      run = this.used[gfn] === 0 ? run + 1 : 0;
      if (run < count) continue;
      const first = gfn - count + 1;
      this.used.fill(1, first, gfn + 1);
      if (first === this.searchFrom) this.searchFrom = gfn + 1;
      return first;
    }
    throw exhaustedError(`no ${count} contiguous free pages in guest memory`, { domid: this.domid, count });
  }

  freePages(gfn: number, count: number): void {
    if (!Number.isInteger(gfn) || !Number.isInteger(count) || gfn < this.reservedPages || count < 1 || gfn + count > this.pages) {
      throw new SplitblkError(HypervisorError.Invalid, `cannot free pages ${gfn}+${count}`, { domid: this.domid, gfn });
    }
    this.used.fill(0, gfn, gfn + count);
    if (gfn < this.searchFrom) this.searchFrom = gfn;
  }

  close(): void {
    this.mapping.close();
  }
}
