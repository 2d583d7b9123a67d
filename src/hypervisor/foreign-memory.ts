import { SplitblkError } from '../util/errors.js';
import { HypervisorError, type DomId, type ForeignMapping, type ForeignMemory } from './api.js';
import type { DomainFiles } from './domain-files.js';
import { mapPagesMax } from './grant-mapper.js';

/**
 * Privileged mapping of a guest's frames by gfn (xenforeignmemory_map), as xenstored maps a
 * guest's xenstore ring page. No grant is involved; the caller is trusted.
 */
export class ForeignMemoryImpl implements ForeignMemory {
  private frames = new Uint32Array(16);

  constructor(private readonly files: DomainFiles) {}

  map(domid: DomId, gfns: ArrayLike<number>, count: number, writable: boolean): ForeignMapping {
    if (!Number.isInteger(count) || count < 1 || count > mapPagesMax || gfns.length < count) {
      throw new SplitblkError(HypervisorError.Invalid, `cannot map ${count} frames`, { domid, count });
    }
    const domain = this.files.get(domid);
    const pages = domain.memoryPages();
    if (this.frames.length < count) this.frames = new Uint32Array(Math.max(count, this.frames.length * 2));
    for (let i = 0; i < count; i++) {
      const gfn = gfns[i]!;
      if (!Number.isInteger(gfn) || gfn < 0 || gfn >= pages) {
        throw new SplitblkError(HypervisorError.ForeignMap, `frame ${gfn} outside domain ${domid}'s memory`, { domid, gfn });
      }
      this.frames[i] = gfn;
    }
    const mapping = domain.memory().mapPages(this.frames, count, writable);
    return {
      buffer: mapping.buffer,
      pages: count,
      writable,
      unmap: () => mapping.close(),
    };
  }
}
