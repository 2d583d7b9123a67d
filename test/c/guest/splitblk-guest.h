/*
 * splitblk-guest: a tiny C library for programs that act as a splitblk guest domain.
 *
 * It implements the run-directory ABI of docs/abi.md with libc and the Xen public headers only:
 * the guest's own memory, its grant table (struct grant_entry_v1), event channels (a shared
 * port table plus one doorbell FIFO per port) and a minimal xenstore client over the ring page
 * (struct xenstore_domain_interface). One struct sbg_guest per process; not thread-safe.
 *
 * Errors: functions returning int return -1 and set errno (EINVAL for bad arguments, ENOSPC
 * when a table is full, ESRCH for a missing domain, ETIMEDOUT for a timeout, or the errno name
 * xenstored answered, e.g. ENOENT).
 */
#ifndef SPLITBLK_GUEST_H
#define SPLITBLK_GUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <xen/xen.h>
#include <xen/grant_table.h>
#include <xen/io/xs_wire.h>

#define SBG_PAGE_SIZE 4096u
/* Port table: entry p at p * 16 bytes = words [4p] binding, [4p+1] flags (docs/abi.md). */
#define SBG_EVTCHN_ENTRY_WORDS 4u
#define SBG_EVTCHN_FREE 0u
#define SBG_EVTCHN_UNBOUND 1u
#define SBG_EVTCHN_INTERDOMAIN 2u
#define SBG_EVTCHN_RESERVED 3u
#define SBG_EVTCHN_STATE(b) ((b) & 0xfu)
#define SBG_EVTCHN_PORT(b) (((b) >> 4) & 0xfffu)
#define SBG_EVTCHN_DOMID(b) ((b) >> 16)
#define SBG_EVTCHN_BINDING(state, port, domid) \
    ((uint32_t)(state) | ((uint32_t)(port) << 4) | ((uint32_t)(domid) << 16))
#define SBG_EVTCHN_PENDING 1u
#define SBG_EVTCHN_MASKED 2u
#define SBG_EVTCHN_POLLING 4u
#define SBG_EVTCHN_MAGIC 0x56454253u /* 'SBEV' */
#define SBG_TABLE_DYING 2u
/* Remote domains whose port tables one guest keeps mapped at once (its peers). */
#define SBG_PEERS_MAX 8
/* Watch events queued while waiting for a xenstore reply. */
#define SBG_XS_EVENTS_MAX 16

struct sbg_start_info {
    uint32_t domid;
    char name[64];
    uint32_t memory_pages;
    uint32_t reserved_pages;
    uint32_t store_gfn;
    uint32_t store_port;
    uint32_t grant_entries;
    uint32_t evtchn_ports;
};

struct sbg_peer {
    domid_t domid;      /* 0xffff when the slot is unused */
    uint32_t *words;    /* the peer's port table */
};

struct sbg_xs_event {
    char path[XENSTORE_ABS_PATH_MAX + 1];
    char token[64];
};

struct sbg_guest {
    char rundir[512];
    struct sbg_start_info si;
    uint8_t *memory;
    size_t memory_bytes;
    grant_entry_v1_t *gnttab;
    uint32_t *evtchn;             /* own port table, as 32-bit words */
    uint8_t *page_used;           /* page allocator: 1 = in use */
    uint32_t grant_hint;          /* where the next free-ref search starts */
    int *doorbell_fd;             /* [port]: our FIFO (read end) or -1 */
    int *bell_fd;                 /* [port]: the peer's FIFO (write end) or -1 */
    uint32_t *bell_binding;       /* [port]: the binding bell_fd was opened for */
    struct sbg_peer peers[SBG_PEERS_MAX];
    uint32_t xs_req_id;
    struct sbg_xs_event xs_events[SBG_XS_EVENTS_MAX];
    unsigned xs_events_count;
};

/* Open the guest `domid` of `rundir`: read start-info, map memory, grant table, port table. */
int sbg_open(struct sbg_guest *g, const char *rundir, uint32_t domid);
void sbg_close(struct sbg_guest *g);

/* Guest memory. */
void *sbg_page(struct sbg_guest *g, uint32_t gfn);
/* Allocate `count` contiguous pages (never the reserved low frames); returns the first gfn. */
int64_t sbg_alloc_pages(struct sbg_guest *g, uint32_t count);
void sbg_free_pages(struct sbg_guest *g, uint32_t gfn, uint32_t count);

/* Grants (gnttab_grant_foreign_access / gnttab_end_foreign_access_ref). */
int sbg_grant_access(struct sbg_guest *g, domid_t domid, uint32_t gfn, bool readonly);
/* 1: ended; 0: still mapped (GTF_reading/GTF_writing set), try again later; -1: bad ref. */
int sbg_end_access(struct sbg_guest *g, grant_ref_t ref);

/* Event channels. */
int sbg_evtchn_alloc_unbound(struct sbg_guest *g, domid_t remote);
int sbg_evtchn_bind_interdomain(struct sbg_guest *g, domid_t remote, uint32_t remote_port);
int sbg_evtchn_notify(struct sbg_guest *g, uint32_t port);
/* Create/open the port's doorbell FIFO; returns an fd to poll() for POLLIN in your own loop. */
int sbg_evtchn_listen(struct sbg_guest *g, uint32_t port);
/* Read everything queued on the doorbell fd (after poll said POLLIN). */
void sbg_evtchn_drain(struct sbg_guest *g, uint32_t port);
bool sbg_evtchn_test_and_clear(struct sbg_guest *g, uint32_t port);
/* Wait until the port is pending (then clear it): 1 = event, 0 = timeout. timeout_ms < 0: forever. */
int sbg_evtchn_wait(struct sbg_guest *g, uint32_t port, int timeout_ms);
void sbg_evtchn_mask(struct sbg_guest *g, uint32_t port);
void sbg_evtchn_unmask(struct sbg_guest *g, uint32_t port);
int sbg_evtchn_close(struct sbg_guest *g, uint32_t port);

/* Xenstore over the ring page at start-info storeGfn, notified through storePort. */
int sbg_xs_write(struct sbg_guest *g, const char *path, const char *value);
/* Read into buf (nul-terminated); returns the value's length, or -1 (errno ENOENT, ...). */
int sbg_xs_read(struct sbg_guest *g, const char *path, char *buf, size_t len);
int sbg_xs_rm(struct sbg_guest *g, const char *path);
/* List the children of `path` into buf as nul-separated names; returns how many, or -1. */
int sbg_xs_directory(struct sbg_guest *g, const char *path, char *buf, size_t len);
int sbg_xs_watch(struct sbg_guest *g, const char *path, const char *token);
/* Remove a watch. Watches belong to the domain's xenstore connection, not to the process:
 * a guest program should remove its own before it exits. */
int sbg_xs_unwatch(struct sbg_guest *g, const char *path, const char *token);
/* Wait for a watch event: 1 = event copied out, 0 = timeout. */
int sbg_xs_wait_watch(struct sbg_guest *g, char *path, size_t path_len, char *token, size_t token_len,
                      int timeout_ms);

#endif
