/**
 * The grant-table files, declared once.
 *
 * `gnttab` is exactly what a Xen guest shares with the hypervisor for a version-1 table: an array
 * of struct grant_entry_v1 (xen/grant_table.h), little-endian, written by the guest:
 *
 *   offset size  C name                          notes
 *   0      2     uint16_t flags                  GTF_* below; GTF_reading/GTF_writing set by "Xen"
 *   2      2     domid_t  domid                  the domain allowed to map the frame
 *   4      4     uint32_t frame                  the guest frame number (gfn) granted
 *   sizeof(struct grant_entry_v1) == 8
 *
 * flags and domid share one aligned 32-bit word (flags in the low half on little-endian), so the
 * hypervisor and the guest can compare-and-swap both at once, as Xen's cmpxchg on the entry does.
 *
 * `gnttab-pins` is hypervisor-private (only mapping processes touch it; a real guest cannot see
 * Xen's active-grant table either): a header, then one 32-bit pin word per grant entry.
 *
 *   header (GNTTAB_PINS_HEADER_SIZE bytes)
 *   0      4     magic                           GNTTAB_PINS_MAGIC
 *   4      4     state                           TABLE_STATE_ALIVE, TABLE_STATE_DYING
 *   8      4     entries                         number of grant entries
 *   12     4084  reserved
 *   pins[entries] at GNTTAB_PINS_HEADER_SIZE, 4 bytes each:
 *   bits 0..13   mappings of the entry (read-only and writable)
 *   bits 14..27  writable mappings of the entry
 *   bit  28      PIN_CLEARING: the last unmapper is clearing GTF_reading/GTF_writing right now
 */

export const GRANT_ENTRY_SIZE = 8; // sizeof(struct grant_entry_v1)
export const GRANT_ENTRY_FLAGS_OFFSET = 0; // offsetof(struct grant_entry_v1, flags)
export const GRANT_ENTRY_DOMID_OFFSET = 2; // offsetof(struct grant_entry_v1, domid)
export const GRANT_ENTRY_FRAME_OFFSET = 4; // offsetof(struct grant_entry_v1, frame)
/** 32-bit words per entry, for Int32Array indexing: word 0 = flags|domid<<16, word 1 = frame. */
export const GRANT_ENTRY_WORDS = GRANT_ENTRY_SIZE / 4;

export const GTF_invalid = 0;
export const GTF_permit_access = 1 << 0;
export const GTF_type_mask = 3 << 0;
export const GTF_readonly = 1 << 2;
export const GTF_reading = 1 << 3;
export const GTF_writing = 1 << 4;
export const GTF_sub_page = 1 << 8;
/** The flags only the hypervisor sets. */
export const GTF_busy = GTF_reading | GTF_writing;

/** Entries per 4 KiB grant frame, and the table size (Xen's gnttab max_grant_frames = 32). */
export const GRANT_ENTRIES_PER_FRAME = 4096 / GRANT_ENTRY_SIZE;
export const GRANT_FRAMES = 32;
export const GRANT_ENTRIES = GRANT_FRAMES * GRANT_ENTRIES_PER_FRAME;
export const GNTTAB_BYTES = GRANT_ENTRIES * GRANT_ENTRY_SIZE;
/** Refs 0..7 are the toolstack's (GNTTAB_NR_RESERVED_ENTRIES); the guest allocator skips them. */
export const GNTTAB_NR_RESERVED_ENTRIES = 8;
export const GNTTAB_RESERVED_CONSOLE = 0;
export const GNTTAB_RESERVED_XENSTORE = 1;

export const GNTTAB_PINS_MAGIC = 0x4e495053; // 'SPIN' little-endian
export const GNTTAB_PINS_HEADER_SIZE = 4096; // one page, so the file stays page-aligned for mmap
export const GNTTAB_PINS_MAGIC_WORD = 0;
export const GNTTAB_PINS_STATE_WORD = 1;
export const GNTTAB_PINS_ENTRIES_WORD = 2;
export const GNTTAB_PINS_BYTES = GNTTAB_PINS_HEADER_SIZE + GRANT_ENTRIES * 4;
/** Index of entry `ref`'s pin word in an Int32Array over the whole pins file. */
export const pinWordIndex = (ref: number): number => GNTTAB_PINS_HEADER_SIZE / 4 + ref;

export const PIN_MAPS_ONE = 1;
export const PIN_MAPS_MASK = 0x3fff;
export const PIN_WRITABLE_ONE = 1 << 14;
export const PIN_WRITABLE_SHIFT = 14;
export const PIN_WRITABLE_MASK = 0x3fff << 14;
export const PIN_CLEARING = 1 << 28;
/** Mappings of one entry, at most (the counter's width). */
export const pinsPerEntryMax = PIN_MAPS_MASK;

/** State word of the pins header and of the event-channel table header. */
export const TABLE_STATE_ALIVE = 1;
export const TABLE_STATE_DYING = 2;
