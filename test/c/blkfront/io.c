/*
 * Rings, request contexts and the event loop of the C blkfront.
 *
 * Each queue is a front ring over 1 << ring_order contiguous guest pages, granted to the
 * backend, and an event channel offered to it. Each request context owns segs_max contiguous
 * data pages and, with indirect descriptors, the indirect pages that describe them. With
 * persistent grants every page is granted once, read-write, at connect (Linux blkfront's
 * behaviour); otherwise each request grants its pages (read-only for a WRITE) and ends the
 * grants when its response arrives, which fails only if the backend still maps them.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "blkfront.h"

uint64_t bf_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- rings ------------------------------------------------------------------------------ */

int bf_rings_setup(struct bf *bf)
{
    unsigned pages = 1u << bf->feat.ring_order;
    for (unsigned q = 0; q < bf->feat.queues; q++) {
        struct bf_queue *queue = &bf->queues[q];
        int64_t gfn = sbg_alloc_pages(bf->g, pages);
        if (gfn < 0) {
            bf_set_error("no guest memory for a %u-page ring", pages);
            return -1;
        }
        queue->ring_gfn = (uint32_t)gfn;
        blkif_sring_t *sring = sbg_page(bf->g, queue->ring_gfn);
        memset(sring, 0, (size_t)pages * BF_PAGE_SIZE);
        SHARED_RING_INIT(sring);
        FRONT_RING_INIT(&queue->ring, sring, (size_t)pages * BF_PAGE_SIZE);
        for (unsigned i = 0; i < pages; i++) {
            queue->ring_refs[i] = sbg_grant_access(bf->g, bf->backend_domid, queue->ring_gfn + i, false);
            if (queue->ring_refs[i] < 0) {
                bf_set_error("grant table full");
                return -1;
            }
        }
        queue->port = sbg_evtchn_alloc_unbound(bf->g, bf->backend_domid);
        if (queue->port < 0 || (queue->fd = sbg_evtchn_listen(bf->g, (uint32_t)queue->port)) < 0) {
            bf_set_error("event channel: %s", strerror(errno));
            return -1;
        }
    }
    bf->feat.ring_slots = RING_SIZE(&bf->queues[0].ring);
    return 0;
}

/* End a grant, retrying briefly: a backend that has not yet unmapped gets a moment. */
static void end_grant(struct bf *bf, int *ref)
{
    if (*ref <= 0) return;
    for (int attempt = 0; attempt < 100; attempt++) {
        int r = sbg_end_access(bf->g, (grant_ref_t)*ref);
        if (r != 0) {
            *ref = -1;
            return;
        }
        struct timespec ts = { 0, 1000000 };
        nanosleep(&ts, NULL);
    }
    bf->stats.leaked_grants++;
    *ref = -1;
}

void bf_rings_teardown(struct bf *bf)
{
    for (unsigned q = 0; q < bf->feat.queues; q++) {
        struct bf_queue *queue = &bf->queues[q];
        for (unsigned i = 0; i < 1u << bf->feat.ring_order; i++) end_grant(bf, &queue->ring_refs[i]);
        if (queue->port > 0) sbg_evtchn_close(bf->g, (uint32_t)queue->port);
        queue->port = 0;
    }
}

/* ---- request contexts ------------------------------------------------------------------- */

static unsigned indirect_pages_for(unsigned segments)
{
    return (segments + BF_SEGS_PER_INDIRECT_PAGE - 1) / BF_SEGS_PER_INDIRECT_PAGE;
}

int bf_contexts_setup(struct bf *bf)
{
    unsigned slots_total = bf->feat.ring_slots * bf->feat.queues;
    bf->nctx = bf->opt.qd < slots_total ? bf->opt.qd : slots_total;
    bf->qd = bf->nctx;
    bf->ctx = calloc(bf->nctx, sizeof *bf->ctx);
    bf->free_ctx = calloc(bf->nctx, sizeof *bf->free_ctx);
    if (bf->ctx == NULL || bf->free_ctx == NULL) return -1;
    unsigned ind_pages = bf->feat.indirect_segments > 0 ? indirect_pages_for(bf->segs_max) : 0;
    for (unsigned i = 0; i < bf->nctx; i++) {
        struct bf_ctx *ctx = &bf->ctx[i];
        ctx->index = i;
        ctx->queue = i % bf->feat.queues;
        int64_t data = sbg_alloc_pages(bf->g, bf->segs_max);
        int64_t ind = ind_pages > 0 ? sbg_alloc_pages(bf->g, ind_pages) : 0;
        ctx->data_refs = malloc(bf->segs_max * sizeof(int));
        if (data < 0 || ind < 0 || ctx->data_refs == NULL) {
            bf_set_error("no guest memory for %u requests of %u segments", bf->nctx, bf->segs_max);
            return -1;
        }
        ctx->data_gfn = (uint32_t)data;
        ctx->indirect_gfn = (uint32_t)ind;
        for (unsigned s = 0; s < bf->segs_max; s++) {
            ctx->data_refs[s] = bf->feat.persistent
                                    ? sbg_grant_access(bf->g, bf->backend_domid, ctx->data_gfn + s, false)
                                    : -1;
        }
        for (unsigned p = 0; p < BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST; p++) {
            ctx->indirect_refs[p] = bf->feat.persistent && p < ind_pages
                                        ? sbg_grant_access(bf->g, bf->backend_domid, ctx->indirect_gfn + p, true)
                                        : -1;
        }
        bf->free_ctx[bf->nfree++] = i;
    }
    return 0;
}

void bf_contexts_teardown(struct bf *bf)
{
    for (unsigned i = 0; i < bf->nctx; i++) {
        struct bf_ctx *ctx = &bf->ctx[i];
        for (unsigned s = 0; ctx->data_refs != NULL && s < bf->segs_max; s++) end_grant(bf, &ctx->data_refs[s]);
        for (unsigned p = 0; p < BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST; p++) end_grant(bf, &ctx->indirect_refs[p]);
        free(ctx->data_refs);
    }
    free(bf->ctx);
    free(bf->free_ctx);
    bf->ctx = NULL;
    bf->free_ctx = NULL;
    bf->nctx = 0;
}

void *bf_ctx_data(struct bf *bf, struct bf_ctx *ctx)
{
    return sbg_page(bf->g, ctx->data_gfn);
}

/* Grant reference of data page `s` for this request (granting it now when not persistent). */
static int data_ref(struct bf *bf, struct bf_ctx *ctx, unsigned s)
{
    if (!bf->feat.persistent) {
        ctx->data_refs[s] = sbg_grant_access(bf->g, bf->backend_domid, ctx->data_gfn + s, ctx->op == BLKIF_OP_WRITE);
    }
    return ctx->data_refs[s];
}

static void fill_segment(struct bf *bf, struct bf_ctx *ctx, unsigned s, struct blkif_request_segment *seg)
{
    uint32_t end = ctx->first_sect + ctx->sectors; /* sectors from the start of page 0 */
    seg->gref = (grant_ref_t)data_ref(bf, ctx, s);
    seg->first_sect = (uint8_t)(s == 0 ? ctx->first_sect : 0);
    seg->last_sect = (uint8_t)(s == ctx->segments - 1 ? (end - 1) % BF_SECTORS_PER_PAGE : BF_SECTORS_PER_PAGE - 1);
}

/* Build the request in the ring slot; the caller pushes. */
static void produce(struct bf *bf, struct bf_ctx *ctx)
{
    struct bf_queue *queue = &bf->queues[ctx->queue];
    ctx->segments = (ctx->first_sect + ctx->sectors + BF_SECTORS_PER_PAGE - 1) / BF_SECTORS_PER_PAGE;
    blkif_request_t *slot = RING_GET_REQUEST(&queue->ring, queue->ring.req_prod_pvt);
    if (ctx->segments <= BLKIF_MAX_SEGMENTS_PER_REQUEST) {
        blkif_request_t req;
        memset(&req, 0, sizeof req);
        req.operation = ctx->op;
        req.nr_segments = (uint8_t)ctx->segments;
        req.handle = (blkif_vdev_t)bf->devid;
        req.id = ctx->index;
        req.sector_number = ctx->sector;
        for (unsigned s = 0; s < ctx->segments; s++) fill_segment(bf, ctx, s, &req.seg[s]);
        *slot = req;
    } else {
        blkif_request_indirect_t req;
        memset(&req, 0, sizeof req);
        req.operation = BLKIF_OP_INDIRECT;
        req.indirect_op = ctx->op;
        req.nr_segments = (uint16_t)ctx->segments;
        req.id = ctx->index;
        req.sector_number = ctx->sector;
        req.handle = (blkif_vdev_t)bf->devid;
        struct blkif_request_segment *segs = sbg_page(bf->g, ctx->indirect_gfn);
        for (unsigned s = 0; s < ctx->segments; s++) fill_segment(bf, ctx, s, &segs[s]);
        ctx->indirect_pages = indirect_pages_for(ctx->segments);
        for (unsigned p = 0; p < ctx->indirect_pages; p++) {
            if (!bf->feat.persistent)
                ctx->indirect_refs[p] = sbg_grant_access(bf->g, bf->backend_domid, ctx->indirect_gfn + p, true);
            req.indirect_grefs[p] = (grant_ref_t)ctx->indirect_refs[p];
        }
        memcpy(slot, &req, sizeof req);
    }
    queue->ring.req_prod_pvt++;
    queue->pushed = true;
    queue->in_flight++;
    queue->requests++;
    ctx->busy = true;
    ctx->submitted_ns = bf_now_ns();
}

static void release_grants(struct bf *bf, struct bf_ctx *ctx)
{
    if (bf->feat.persistent) return;
    for (unsigned s = 0; s < ctx->segments; s++) end_grant(bf, &ctx->data_refs[s]);
    for (unsigned p = 0; p < ctx->indirect_pages; p++) end_grant(bf, &ctx->indirect_refs[p]);
    ctx->indirect_pages = 0;
}

static void record(struct bf *bf, struct bf_ctx *ctx, int16_t status, uint64_t now)
{
    struct bf_stats *st = &bf->stats;
    st->requests++;
    if (ctx->op == BLKIF_OP_READ) st->reads++;
    else st->writes++;
    st->bytes += (uint64_t)ctx->sectors * BF_SECTOR_SIZE;
    if (status != BLKIF_RSP_OKAY) {
        if (st->errors++ == 0) {
            st->first_error_status = status;
            st->first_error_sector = ctx->sector;
        }
    }
    if (st->latency_ns != NULL && st->latency_samples < st->latency_max)
        st->latency_ns[st->latency_samples++] = now - ctx->submitted_ns;
}

/* Consume every response on the queue; returns how many. */
static unsigned reap(struct bf *bf, struct bf_queue *queue, const struct bf_driver *driver)
{
    unsigned count = 0;
    int more;
    do {
        RING_IDX rp = queue->ring.sring->rsp_prod;
        xen_rmb(); /* read rsp_prod before the responses it publishes */
        uint64_t now = bf_now_ns();
        while (queue->ring.rsp_cons != rp) {
            blkif_response_t rsp = *RING_GET_RESPONSE(&queue->ring, queue->ring.rsp_cons);
            queue->ring.rsp_cons++;
            struct bf_ctx *ctx = rsp.id < bf->nctx ? &bf->ctx[rsp.id] : NULL;
            if (ctx == NULL || !ctx->busy || &bf->queues[ctx->queue] != queue) {
                bf->stats.bogus++;
                continue;
            }
            release_grants(bf, ctx);
            ctx->busy = false;
            queue->in_flight--;
            record(bf, ctx, rsp.status, now);
            driver->complete(bf, ctx, rsp.status, driver->arg);
            bf->free_ctx[bf->nfree++] = ctx->index;
            count++;
        }
        RING_FINAL_CHECK_FOR_RESPONSES(&queue->ring, more);
    } while (more);
    return count;
}

static void push(struct bf *bf)
{
    for (unsigned q = 0; q < bf->feat.queues; q++) {
        struct bf_queue *queue = &bf->queues[q];
        if (!queue->pushed) continue;
        int notify;
        RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&queue->ring, notify);
        queue->pushed = false;
        if (notify) {
            bf->stats.kicks++;
            sbg_evtchn_notify(bf->g, (uint32_t)queue->port);
        }
    }
}

/* Sleep until a queue's event channel fires: clear pending first and look at the rings again,
 * so that an event that raced with our last look still wakes us (the notifier rings the
 * doorbell only when it finds pending clear). Returns 0 on a wake-up, -1 on a stall. */
static int wait_events(struct bf *bf, const struct bf_driver *driver, unsigned *reaped)
{
    struct pollfd fds[BF_QUEUES_MAX];
    for (unsigned q = 0; q < bf->feat.queues; q++) {
        if (sbg_evtchn_test_and_clear(bf->g, (uint32_t)bf->queues[q].port)) bf->stats.events++;
        *reaped += reap(bf, &bf->queues[q], driver);
        fds[q] = (struct pollfd){ .fd = bf->queues[q].fd, .events = POLLIN };
    }
    if (*reaped > 0) return 0;
    int r = poll(fds, bf->feat.queues, BF_STALL_TIMEOUT_MS);
    if (r < 0 && errno != EINTR) return -1;
    if (r == 0) {
        bf_set_error("no response from the backend for %d ms", BF_STALL_TIMEOUT_MS);
        return -1;
    }
    for (unsigned q = 0; q < bf->feat.queues; q++)
        if (fds[q].revents & POLLIN) sbg_evtchn_drain(bf->g, (uint32_t)bf->queues[q].port);
    return 0;
}

/* Issue what the driver plans, reap completions, sleep when nothing moves; until the driver
 * says done and nothing is in flight. */
int bf_run(struct bf *bf, const struct bf_driver *driver)
{
    for (;;) {
        bool planning = !driver->done(bf, driver->arg);
        while (planning && bf->nfree > 0) {
            struct bf_ctx *ctx = &bf->ctx[bf->free_ctx[bf->nfree - 1]];
            if (!driver->plan(bf, ctx, driver->arg)) break;
            bf->nfree--;
            produce(bf, ctx);
        }
        push(bf);
        if (!planning && bf->nfree == bf->nctx) return 0;
        unsigned reaped = 0;
        for (unsigned q = 0; q < bf->feat.queues; q++) reaped += reap(bf, &bf->queues[q], driver);
        if (reaped > 0) continue;
        if (bf->nfree == bf->nctx && planning) continue; /* the driver declined with nothing in flight */
        if (wait_events(bf, driver, &reaped) < 0) return -1;
    }
}
