import type { DomId, ForeignMapping, GrantMapper, GrantRef } from './api.js';
import type { DomainFiles, GrantFiles } from './domain-files.js';
import { grantError } from './errors.js';
import {
  GRANT_ENTRIES,
  GRANT_ENTRY_WORDS,
  GTF_busy,
  GTF_permit_access,
  GTF_readonly,
  GTF_reading,
  GTF_type_mask,
  GTF_writing,
  PIN_CLEARING,
  PIN_MAPS_MASK,
  PIN_MAPS_ONE,
  PIN_WRITABLE_MASK,
  PIN_WRITABLE_ONE,
  pinWordIndex,
} from './grant-layout.js';

/** Spins waiting for another mapper's last-unmap to finish clearing an entry's busy bits. */
export const pinSpinsMax = 1 << 20;
/** Pages in one grant mapping at most (blkif indirect segments need far fewer). */
export const mapPagesMax = 4096;
/**
 * Failed CASes on one grant entry before the map is refused. The entry is guest memory: a guest
 * rewriting it without pause must not keep dom0 spinning. Xen bounds the same loop the same way
 * (_set_status_v1: "Shared grant entry is unstable").
 */
export const grantCasRetriesMax = 4;

/**
 * The backend side of grants (xengnttab_map_domain_grant_refs): validate each entry and mark it
 * in use exactly as Xen does, then map the frames of the guest's memory file contiguously.
 *
 * Several processes may map the same ref; the hypervisor-private pin word of the entry counts
 * mappings (and writable mappings), so GTF_reading stays set until the last mapping goes and
 * GTF_writing until the last writable one goes. The last unmapper marks the pin word
 * PIN_CLEARING while it clears the busy bits, so a concurrent mapper cannot set them in between
 * and then lose them (it waits for the clear, then sets them again itself).
 */
export class GrantMapperImpl implements GrantMapper {
  private frames = new Uint32Array(16);
  private closed = false;

  constructor(
    readonly selfDomid: DomId,
    private readonly files: DomainFiles,
  ) {}

  mapGrantRefs(domid: DomId, refs: ArrayLike<GrantRef>, count: number, writable: boolean): ForeignMapping {
    if (this.closed) throw grantError('grant mapper is closed', { domid, ref: -1 });
    if (!Number.isInteger(count) || count < 1 || count > mapPagesMax || refs.length < count) {
      throw grantError(`cannot map ${count} refs`, { domid, ref: -1, count });
    }
    const domain = this.files.get(domid);
    const grants = domain.grants();
    const pages = domain.memoryPages();
    if (this.frames.length < count) this.frames = new Uint32Array(Math.max(count, this.frames.length * 2));
    const frames = this.frames;
    let taken = 0;
    try {
      for (; taken < count; taken++) frames[taken] = this.take(domid, grants, refs[taken]!, writable, pages);
    } catch (error) {
      for (let i = 0; i < taken; i++) releasePin(grants, refs[i]!, writable);
      throw error;
    }
    let mapping;
    try {
      mapping = domain.memory().mapPages(frames, count, writable);
    } catch (error) {
      for (let i = 0; i < count; i++) releasePin(grants, refs[i]!, writable);
      throw error;
    }
    const held = new Uint32Array(count);
    for (let i = 0; i < count; i++) held[i] = refs[i]!;
    domain.retain();
    return new GrantMapping(mapping.buffer, count, writable, () => {
      mapping.close();
      for (let i = 0; i < count; i++) releasePin(grants, held[i]!, writable);
      domain.release();
    });
  }

  close(): void {
    this.closed = true;
  }

  /** Take one pin on `ref` and return its frame, or throw with the entry left as it was. */
  private take(domid: DomId, grants: GrantFiles, ref: number, writable: boolean, pages: number): number {
    if (!Number.isInteger(ref) || ref < 0 || ref >= GRANT_ENTRIES) {
      throw grantError(`grant ref ${ref} out of range`, { domid, ref });
    }
    if (!acquirePin(grants, ref, writable)) {
      throw grantError(`grant ref ${ref} is busy or mapped too often`, { domid, ref });
    }
    const reason = this.markInUse(grants.entries, ref, writable);
    if (reason !== undefined) {
      releasePin(grants, ref, writable);
      throw grantError(`grant ref ${ref} of domain ${domid}: ${reason}`, { domid, ref });
    }
    // The frame is read after the flags CAS: from here on the guest cannot end or change the
    // grant (its endAccess fails while a busy bit is set), so this is the frame we hold.
    const frame = Atomics.load(grants.entries, ref * GRANT_ENTRY_WORDS + 1) >>> 0;
    if (frame >= pages) {
      releasePin(grants, ref, writable);
      throw grantError(`grant ref ${ref} of domain ${domid}: frame ${frame} outside its memory`, { domid, ref, frame });
    }
    return frame;
  }

  /** Validate the entry and set GTF_reading (and GTF_writing) with one CAS, as Xen does. */
  private markInUse(entries: Int32Array, ref: number, writable: boolean): string | undefined {
    const index = ref * GRANT_ENTRY_WORDS;
    const busy = writable ? GTF_reading | GTF_writing : GTF_reading;
    for (let attempt = 0; attempt <= grantCasRetriesMax; attempt++) {
      const word = Atomics.load(entries, index);
      if ((word & GTF_type_mask) !== GTF_permit_access) return 'not GTF_permit_access';
      if (word >>> 16 !== this.selfDomid) return `granted to domain ${word >>> 16}, not ${this.selfDomid}`;
      if (writable && (word & GTF_readonly) !== 0) return 'read-only grant, writable mapping asked';
      const next = word | busy;
      if (next === word) return undefined;
      // Seq-cst CAS on flags|domid: succeeds only if the guest did not end or change the grant
      // since our load, so the checks above hold for the word we mark. It orders the mark before
      // our frame read and before any access through the mapping.
      if (Atomics.compareExchange(entries, index, word, next) === word) return undefined;
    }
    return 'the grant entry is unstable (it kept changing under the mapping)';
  }
}

/** Count one mapping of `ref` in its pin word, waiting while a last-unmapper is clearing. */
function acquirePin(grants: GrantFiles, ref: number, writable: boolean): boolean {
  const index = pinWordIndex(ref);
  const delta = writable ? PIN_MAPS_ONE | PIN_WRITABLE_ONE : PIN_MAPS_ONE;
  for (let spins = 0; spins < pinSpinsMax; spins++) {
    const pin = Atomics.load(grants.pins, index);
    if ((pin & PIN_CLEARING) !== 0) continue;
    if ((pin & PIN_MAPS_MASK) === PIN_MAPS_MASK) return false;
    // Seq-cst CAS: the pin is counted before our flags CAS, so a concurrent last-unmapper sees
    // it and leaves the busy bits alone.
    if (Atomics.compareExchange(grants.pins, index, pin, pin + delta) === pin) return true;
  }
  return false;
}

/**
 * Drop one mapping of `ref`. The last mapping clears GTF_reading|GTF_writing, the last writable
 * one GTF_writing, under PIN_CLEARING so no mapper can take a pin in between.
 */
export function releasePin(grants: GrantFiles, ref: number, writable: boolean): void {
  const index = pinWordIndex(ref);
  const delta = writable ? PIN_MAPS_ONE | PIN_WRITABLE_ONE : PIN_MAPS_ONE;
  for (let spins = 0; spins < pinSpinsMax; spins++) {
    const pin = Atomics.load(grants.pins, index);
    if ((pin & PIN_CLEARING) !== 0) continue;
    const next = pin - delta;
    const lastMap = (next & PIN_MAPS_MASK) === 0;
    const lastWrite = writable && (next & PIN_WRITABLE_MASK) === 0;
    if (!lastMap && !lastWrite) {
      if (Atomics.compareExchange(grants.pins, index, pin, next) === pin) return;
      continue;
    }
    // Seq-cst CAS to CLEARING: from here until the store below, acquirePin waits, so nobody can
    // set a busy bit that our clear would then wipe.
    if (Atomics.compareExchange(grants.pins, index, pin, next | PIN_CLEARING) !== pin) continue;
    clearBusy(grants.entries, ref, lastMap ? GTF_busy : GTF_writing);
    // Seq-cst store: the cleared flags are visible before a new mapper may take a pin.
    Atomics.store(grants.pins, index, next);
    return;
  }
}

function clearBusy(entries: Int32Array, ref: number, bits: number): void {
  // An atomic and, not a load and a store: the guest may be rewriting the entry's other bits
  // at the same time, and a single read-modify-write keeps them (Xen clears the bits the same
  // way) without a retry loop the guest could keep failing.
  Atomics.and(entries, ref * GRANT_ENTRY_WORDS, ~bits);
}

class GrantMapping implements ForeignMapping {
  private done = false;

  constructor(
    readonly buffer: ArrayBuffer,
    readonly pages: number,
    readonly writable: boolean,
    private readonly release: () => void,
  ) {}

  unmap(): void {
    if (this.done) return;
    this.done = true;
    this.release();
  }
}
