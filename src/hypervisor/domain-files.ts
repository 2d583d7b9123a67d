import { linkSync, unlinkSync } from 'node:fs';
import type { Mapping, NativeApi, SharedMemoryFile } from '../native/api.js';
import { PAGE_SIZE } from '../native/api.js';
import type { DomId } from './api.js';
import { isErrno, noDomainError } from './errors.js';
import { EVTCHN_TABLE_BYTES, tableDying, tableValid } from './evtchn-table.js';
import { GNTTAB_BYTES, GNTTAB_PINS_BYTES, GNTTAB_PINS_MAGIC, GNTTAB_PINS_MAGIC_WORD } from './grant-layout.js';
import { RunDir } from './rundir.js';

/** The grant-table files of a domain, mapped writable (the mapper sets GTF_reading/GTF_writing). */
export interface GrantFiles {
  /** struct grant_entry_v1[] as 32-bit words: [2*ref] = flags | domid << 16, [2*ref+1] = frame. */
  readonly entries: Int32Array;
  /** The hypervisor-private pins file as 32-bit words (grant-layout.ts). */
  readonly pins: Int32Array;
}

/**
 * One domain's shared files as this process has them open: the event-channel table always
 * (small, and its header says whether the domain is dying), the grant files and the memory file
 * when first asked for. Views stay valid after the domain's files are unlinked (tmpfs keeps the
 * pages while they are mapped); `dying()` tells holders to let go.
 */
export class OpenDomain {
  private grantFiles: GrantFiles | undefined;
  private memoryFile: SharedMemoryFile | undefined;
  private pages = -1;
  private readonly mappings: Mapping[] = [];
  /** Holders that keep the views mapped after the cache let go (live grant mappings). */
  private users = 0;
  /** Set once the cache let go; the views are unmapped when the last user releases. */
  closed = false;

  constructor(
    readonly domid: DomId,
    readonly evtchn: Int32Array,
    evtchnMapping: Mapping,
    private readonly native: NativeApi,
    private readonly dirs: RunDir,
  ) {
    this.mappings.push(evtchnMapping);
  }

  dying(): boolean {
    return tableDying(this.evtchn);
  }

  grants(): GrantFiles {
    if (this.grantFiles !== undefined) return this.grantFiles;
    const entries = new Int32Array(this.mapWhole(this.dirs.gnttab(this.domid), GNTTAB_BYTES));
    const pins = new Int32Array(this.mapWhole(this.dirs.gnttabPins(this.domid), GNTTAB_PINS_BYTES));
    if (Atomics.load(pins, GNTTAB_PINS_MAGIC_WORD) !== GNTTAB_PINS_MAGIC) throw noDomainError(this.domid);
    this.grantFiles = { entries, pins };
    return this.grantFiles;
  }

  /** The memory file, open read-write (mappings choose their own protection). */
  memory(): SharedMemoryFile {
    if (this.memoryFile !== undefined) return this.memoryFile;
    this.memoryFile = openOrNoDomain(this.native, this.dirs.memory(this.domid), this.domid);
    return this.memoryFile;
  }

  /** Pages of guest memory (fixed at creation, so read once). */
  memoryPages(): number {
    if (this.pages < 0) this.pages = Math.floor(this.memory().size() / PAGE_SIZE);
    return this.pages;
  }

  retain(): void {
    this.users++;
  }

  release(): void {
    this.users--;
    if (this.users === 0 && this.closed) this.unmapAll();
  }

  close(): void {
    this.closed = true;
    if (this.users === 0) this.unmapAll();
  }

  private unmapAll(): void {
    for (const mapping of this.mappings) mapping.close();
    this.mappings.length = 0;
    this.memoryFile?.close();
    this.memoryFile = undefined;
    this.grantFiles = undefined;
  }

  private mapWhole(path: string, bytes: number): ArrayBuffer {
    const file = openOrNoDomain(this.native, path, this.domid);
    try {
      if (file.size() < bytes) throw noDomainError(this.domid);
      const mapping = file.map(0, bytes, true);
      this.mappings.push(mapping);
      return mapping.buffer;
    } finally {
      file.close();
    }
  }
}

function openOrNoDomain(native: NativeApi, path: string, domid: DomId): SharedMemoryFile {
  try {
    return native.shm.open(path, { writable: true });
  } catch (error) {
    throw noDomainError(domid, error);
  }
}

/**
 * A per-Hypervisor cache of OpenDomain, so that notify and map find a domain's tables without a
 * syscall. An entry whose table says dying is dropped and reopened (a destroyed domid may have
 * been reused by a new domain).
 */
export class DomainFiles {
  private readonly open = new Map<DomId, OpenDomain>();

  constructor(
    private readonly native: NativeApi,
    readonly dirs: RunDir,
  ) {}

  /** The domain's files; throws SPLITBLK_ERR_NO_DOMAIN when it does not exist or is dying. */
  get(domid: DomId): OpenDomain {
    const cached = this.open.get(domid);
    if (cached !== undefined && !cached.dying()) return cached;
    if (cached !== undefined) this.forget(domid);
    const domain = this.openDomain(domid);
    this.open.set(domid, domain);
    return domain;
  }

  forget(domid: DomId): void {
    const cached = this.open.get(domid);
    if (cached === undefined) return;
    cached.close();
    this.open.delete(domid);
  }

  close(): void {
    for (const domain of this.open.values()) domain.close();
    this.open.clear();
  }

  private openDomain(domid: DomId): OpenDomain {
    const file = openOrNoDomain(this.native, this.dirs.evtchn(domid), domid);
    let mapping: Mapping;
    try {
      if (file.size() < EVTCHN_TABLE_BYTES) throw noDomainError(domid);
      mapping = file.map(0, EVTCHN_TABLE_BYTES, true);
    } finally {
      file.close();
    }
    const words = new Int32Array(mapping.buffer);
    if (!tableValid(words) || tableDying(words)) {
      mapping.close();
      throw noDomainError(domid);
    }
    return new OpenDomain(domid, words, mapping, this.native, this.dirs);
  }
}

/**
 * Create a shared file fully initialised before anyone can open it: create and fill it under a
 * temporary name, then link() it into place. link fails with EEXIST instead of replacing, so
 * several processes may race to create the same file (dom0's tables) and exactly one wins.
 * Returns false when the file already existed.
 */
export function publishSharedFile(
  native: NativeApi,
  path: string,
  bytes: number,
  init?: (buffer: ArrayBuffer) => void,
): boolean {
  const temporary = RunDir.temporary(path);
  const file = native.shm.create(temporary, bytes, { exclusive: true });
  try {
    if (init !== undefined) {
      const mapping = file.map(0, bytes, true);
      try {
        init(mapping.buffer);
      } finally {
        mapping.close();
      }
    }
  } finally {
    file.close();
  }
  try {
    linkSync(temporary, path);
    return true;
  } catch (error) {
    if (isErrno(error, 'EEXIST')) return false;
    throw error;
  } finally {
    unlinkSync(temporary);
  }
}
