/*
 * A C blkfront for splitblk: a guest program built on the splitblk-guest library
 * (test/c/guest) and the canonical <xen/io/blkif.h> / <xen/io/ring.h>, as a guest kernel's
 * xen-blkfront would be. It negotiates multi-page rings, several queues, indirect descriptors
 * and persistent grants through the guest's own xenstore ring, then either verifies random
 * I/O (mode `verify`) or measures the ring (mode `bench`).
 *
 * Files: blkfront.c (options, modes, report), xenbus.c (the handshake), io.c (rings, request
 * contexts, the event loop), pattern.c (the per-sector verification pattern).
 */
#ifndef SPLITBLK_BLKFRONT_H
#define SPLITBLK_BLKFRONT_H

/* ring.h expands xen_mb/xen_rmb/xen_wmb to mb/rmb/wmb: they must exist before it is included. */
#include "xen-barriers.h"

#include <stdbool.h>
#include <stdint.h>

#include <xen/io/blkif.h>
#include <xen/io/ring.h>
#include <xen/io/protocols.h>

#include "splitblk-guest.h"

#define BF_PAGE_SIZE 4096u
#define BF_SECTOR_SIZE 512u
#define BF_SECTORS_PER_PAGE (BF_PAGE_SIZE / BF_SECTOR_SIZE)
#define BF_QUEUES_MAX 16u
#define BF_RING_ORDER_MAX 4u
#define BF_RING_PAGES_MAX (1u << BF_RING_ORDER_MAX)
/* Segments one indirect page describes (struct blkif_request_segment is 8 bytes). */
#define BF_SEGS_PER_INDIRECT_PAGE (BF_PAGE_SIZE / sizeof(struct blkif_request_segment))
#define BF_INDIRECT_SEGS_MAX (BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST * BF_SEGS_PER_INDIRECT_PAGE)
/* Requests in flight at once, over all queues (the order-3 ring holds 256). */
#define BF_INFLIGHT_MAX 1024u
#define BF_XS_TIMEOUT_MS 10000
/* How long the event loop waits for a response before it gives up on the backend. */
#define BF_STALL_TIMEOUT_MS 10000

/* XenbusState values of <xen/io/xenbus.h>, named here as the handshake uses them. */
#include <xen/io/xenbus.h>

/* What the user asked for; the negotiation may give less. */
struct bf_options {
    unsigned ring_order;
    unsigned queues;
    unsigned indirect_segments; /* 0: direct requests only (11 segments) */
    bool persistent;
    unsigned qd;
    double seconds;             /* bench: how long to measure */
    unsigned ops;               /* verify: random requests before the read-back */
    unsigned bs;                /* bench: bytes per request (multiple of 4096) */
    bool sequential;            /* bench: sequential instead of random offsets */
    bool write;                 /* bench: WRITE instead of READ */
    uint64_t bytes;             /* bench: stop after this many bytes (0: --seconds only) */
    double warmup;              /* bench: seconds run before the measurement, not counted */
    uint64_t seed;
};

/* What both ends agreed on, plus the disk. */
struct bf_features {
    unsigned ring_order;
    unsigned ring_slots;
    unsigned queues;
    unsigned indirect_segments; /* 0 when indirect descriptors are off */
    bool persistent;
    bool flush;
    uint64_t sectors;           /* 512-byte units */
    unsigned sector_size;
    unsigned info;
    /* What the backend advertised. */
    unsigned backend_max_ring_order;
    unsigned backend_max_queues;
    unsigned backend_max_indirect;
    bool backend_persistent;
};

struct bf_queue {
    blkif_front_ring_t ring;
    uint32_t ring_gfn;                 /* first of 1 << ring_order contiguous pages */
    int ring_refs[BF_RING_PAGES_MAX];
    int port;                          /* our event channel, offered to the backend */
    int fd;                            /* its doorbell, for poll() */
    bool pushed;                       /* requests produced but not yet pushed */
    unsigned in_flight;
    uint64_t requests;                 /* produced on this queue, for the report */
};

/* One request in flight: its pages (contiguous in guest memory) and what it asked for. */
struct bf_ctx {
    unsigned index;                    /* the request id on the ring */
    unsigned queue;
    bool busy;
    uint8_t op;                        /* BLKIF_OP_READ or BLKIF_OP_WRITE */
    uint64_t sector;
    uint32_t sectors;
    uint32_t first_sect;               /* offset of the data in the first page, in sectors */
    uint32_t segments;
    uint64_t submitted_ns;
    uint32_t data_gfn;                 /* segs_max pages */
    uint32_t indirect_gfn;             /* indirect pages (when indirect is on) */
    int *data_refs;                    /* persistent grants, or this request's grants */
    int indirect_refs[BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST];
    uint32_t indirect_pages;           /* granted for this request (non-persistent) */
};

struct bf_stats {
    uint64_t requests, reads, writes, errors, bogus;
    uint64_t kicks;                    /* notifications we sent */
    uint64_t events;                   /* notifications we received (pending bit found set) */
    uint64_t bytes;
    uint64_t *latency_ns;              /* samples, bounded */
    uint64_t latency_samples, latency_max;
    uint64_t leaked_grants;            /* end_access refused after completion or close */
    int first_error_status;
    uint64_t first_error_sector;
};

struct bf {
    struct sbg_guest *g;
    struct bf_options opt;
    struct bf_features feat;
    char fe_path[128];
    char be_path[128];
    domid_t backend_domid;
    unsigned devid;
    unsigned segs_max;                 /* segments of the largest request */
    struct bf_queue queues[BF_QUEUES_MAX];
    struct bf_ctx *ctx;                /* opt.qd of them */
    unsigned nctx;
    unsigned qd;                       /* nctx as negotiated, kept for the report */
    unsigned *free_ctx;                /* stack of free context indexes */
    unsigned nfree;
    struct bf_stats stats;
    int backend_state_at_close;
    bool watching;                     /* the watch on the backend's state is registered */
};

/* What the event loop asks its driver: fill a free context (false: nothing to issue now) and
 * hear about a completion. */
struct bf_driver {
    bool (*plan)(struct bf *bf, struct bf_ctx *ctx, void *arg);
    void (*complete)(struct bf *bf, struct bf_ctx *ctx, int16_t status, void *arg);
    bool (*done)(struct bf *bf, void *arg);
    void *arg;
};

/* xenbus.c */
int bf_xs_read_uint(struct bf *bf, const char *path, unsigned long long fallback, unsigned long long *out);
int bf_connect(struct bf *bf, unsigned devid);
void bf_disconnect(struct bf *bf);
const char *bf_error(void);
void bf_set_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* io.c */
int bf_rings_setup(struct bf *bf);
void bf_rings_teardown(struct bf *bf);
int bf_contexts_setup(struct bf *bf);
void bf_contexts_teardown(struct bf *bf);
void *bf_ctx_data(struct bf *bf, struct bf_ctx *ctx);
int bf_run(struct bf *bf, const struct bf_driver *driver);
uint64_t bf_now_ns(void);

/* pattern.c */
void bf_pattern_fill(uint8_t *sector_buf, uint64_t sector, uint32_t generation);
/* 0 when it matches; else fills found_sector/found_generation from the header (if any). */
int bf_pattern_check(const uint8_t *sector_buf, uint64_t sector, uint32_t generation, uint64_t *found_sector,
                     uint32_t *found_generation);

#endif
