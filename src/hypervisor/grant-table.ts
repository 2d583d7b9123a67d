import type { DomId, GrantRef, GrantTable } from './api.js';
import { DOMID_SELF } from './api.js';
import type { OpenDomain } from './domain-files.js';
import { exhaustedError, grantError } from './errors.js';
import {
  GNTTAB_NR_RESERVED_ENTRIES,
  GRANT_ENTRIES,
  GRANT_ENTRY_WORDS,
  GTF_busy,
  GTF_permit_access,
  GTF_readonly,
} from './grant-layout.js';

const DOMID_GRANTABLE_MAX = DOMID_SELF - 1;

/**
 * The guest side of a grant table: the guest writes its own grant_entry_v1 entries, as a Xen
 * guest kernel does (gnttab_grant_foreign_access / gnttab_end_foreign_access_ref). The free list
 * is this process's: one process acts as the guest's kernel for its grant table.
 */
export class GrantTableImpl implements GrantTable {
  readonly entries = GRANT_ENTRIES;
  private readonly words: Int32Array;
  /** Free refs as a stack; `freeCount` of them are valid. */
  private readonly free = new Uint32Array(GRANT_ENTRIES);
  private freeCount = 0;
  /** 1 for refs granted through this handle (so endAccess of a foreign ref is refused). */
  private readonly granted = new Uint8Array(GRANT_ENTRIES);
  private closed = false;

  constructor(
    readonly domid: DomId,
    private readonly domain: OpenDomain,
  ) {
    this.words = domain.grants().entries;
    domain.retain();
    // Refs already in use (left by an earlier guest process, or the toolstack's reserved refs)
    // stay out of the free list. Pushed high to low so that low refs come out first.
    for (let ref = GRANT_ENTRIES - 1; ref >= GNTTAB_NR_RESERVED_ENTRIES; ref--) {
      if (Atomics.load(this.words, ref * GRANT_ENTRY_WORDS) === 0) this.free[this.freeCount++] = ref;
    }
  }

  grantAccess(domid: DomId, gfn: number, readonly: boolean): GrantRef {
    if (this.closed) throw grantError('grant table closed', { domid: this.domid, ref: -1 });
    if (!Number.isInteger(domid) || domid < 0 || domid > DOMID_GRANTABLE_MAX) {
      throw grantError(`cannot grant to domain ${domid}`, { domid: this.domid, ref: -1 });
    }
    if (!Number.isInteger(gfn) || gfn < 0 || gfn > 0xffffffff) {
      throw grantError(`bad frame ${gfn}`, { domid: this.domid, ref: -1, gfn });
    }
    if (this.freeCount === 0) throw exhaustedError('grant table full', { domid: this.domid });
    const ref = this.free[--this.freeCount]!;
    const index = ref * GRANT_ENTRY_WORDS;
    this.granted[ref] = 1;
    // Frame and domid before flags (Xen's guests: write frame, domid, wmb(), flags). The frame
    // store is seq-cst, so it is visible before the flags|domid word that publishes the grant.
    Atomics.store(this.words, index + 1, gfn | 0);
    Atomics.store(this.words, index, (GTF_permit_access | (readonly ? GTF_readonly : 0) | (domid << 16)) | 0);
    return ref;
  }

  endAccess(ref: GrantRef): boolean {
    if (this.closed) throw grantError('grant table closed', { domid: this.domid, ref });
    if (!Number.isInteger(ref) || ref < 0 || ref >= GRANT_ENTRIES || this.granted[ref] !== 1) {
      throw grantError(`ref ${ref} is not granted by this table`, { domid: this.domid, ref });
    }
    const index = ref * GRANT_ENTRY_WORDS;
    for (;;) {
      const word = Atomics.load(this.words, index);
      if ((word & GTF_busy) !== 0) return false;
      // CAS(flags without GTF_reading/GTF_writing -> 0): fails, and we look again, when a mapper
      // set a busy bit between our load and here. Once it succeeds no mapper can take the entry
      // (they CAS from a word with GTF_permit_access), so the frame may be reused.
      if (Atomics.compareExchange(this.words, index, word, 0) === word) break;
    }
    this.granted[ref] = 0;
    this.free[this.freeCount++] = ref;
    return true;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.domain.release();
  }
}
