/*
 * The frontend's half of blkif.h's xenbus handshake, over the guest's own xenstore ring:
 *
 *   backend InitWait  -> read max-ring-page-order, multi-queue-max-queues; set up the rings;
 *                        write ring-ref / ring-ref%u (+ ring-page-order), event-channel
 *                        (under queue-%u/ with multi-queue-num-queues), protocol,
 *                        feature-persistent -> Initialised
 *   backend Connected -> read sectors, sector-size, info, feature-persistent,
 *                        feature-max-indirect-segments, feature-flush-cache -> Connected
 *   close             -> Closing, wait for the backend to leave Connected, Closed, wait for
 *                        the backend's Closed (it has unmapped everything), end the grants.
 *
 * The guest library has no transactions, so the keys are written one by one before the state
 * switch; the backend reads them only once it sees Initialised, as blkif.h allows.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blkfront.h"

static char error_text[512];

const char *bf_error(void)
{
    return error_text;
}

void bf_set_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(error_text, sizeof error_text, fmt, ap);
    va_end(ap);
}

/* Read an unsigned decimal key; an absent key gives `fallback`, a malformed one an error. */
int bf_xs_read_uint(struct bf *bf, const char *path, unsigned long long fallback, unsigned long long *out)
{
    char buf[64];
    if (sbg_xs_read(bf->g, path, buf, sizeof buf) < 0) {
        if (errno != ENOENT) {
            bf_set_error("xenstore read %s: %s", path, strerror(errno));
            return -1;
        }
        *out = fallback;
        return 0;
    }
    char *end;
    errno = 0;
    unsigned long long v = strtoull(buf, &end, 10);
    if (end == buf || *end != '\0' || errno != 0) {
        bf_set_error("malformed %s: \"%.32s\"", path, buf);
        return -1;
    }
    *out = v;
    return 0;
}

static int xs_printf(struct bf *bf, const char *dir, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int xs_printf(struct bf *bf, const char *dir, const char *key, const char *fmt, ...)
{
    char path[256], value[64];
    snprintf(path, sizeof path, "%s/%s", dir, key);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(value, sizeof value, fmt, ap);
    va_end(ap);
    if (sbg_xs_write(bf->g, path, value) < 0) {
        bf_set_error("xenstore write %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

static int backend_state(struct bf *bf)
{
    char path[256];
    unsigned long long state;
    snprintf(path, sizeof path, "%s/state", bf->be_path);
    if (bf_xs_read_uint(bf, path, XenbusStateClosed, &state) < 0) return -1;
    return (int)state;
}

typedef bool (*state_pred)(int state);

/* Wait (through a watch on the backend's state node) until `pred` holds; returns the state,
 * or -1 on timeout or a read error. A missing node reads as Closed. */
static int wait_backend(struct bf *bf, state_pred pred, int timeout_ms)
{
    char path[256], ev_path[XENSTORE_ABS_PATH_MAX + 1], token[64];
    snprintf(path, sizeof path, "%s/state", bf->be_path);
    /* Watches belong to the domain's xenstore connection, not to this process, so one that an
     * earlier process of this guest registered and could not remove (it was killed) is still
     * there and still delivers its events on our ring: EEXIST means "already watching". A
     * fixed token keeps the domain at one watch per device, however many processes come and
     * go; bf_disconnect removes it. */
    if (!bf->watching) {
        if (sbg_xs_watch(bf->g, path, "blkfront-be-state") < 0 && errno != EEXIST) {
            bf_set_error("xenstore watch %s: %s", path, strerror(errno));
            return -1;
        }
        bf->watching = true;
    }
    uint64_t deadline = bf_now_ns() + (uint64_t)timeout_ms * 1000000u;
    for (;;) {
        int state = backend_state(bf);
        if (state < 0) return -1;
        if (pred(state)) return state;
        uint64_t now = bf_now_ns();
        if (now >= deadline) {
            bf_set_error("timed out waiting for the backend (state %d)", state);
            return -1;
        }
        int left = (int)((deadline - now) / 1000000u) + 1;
        if (sbg_xs_wait_watch(bf->g, ev_path, sizeof ev_path, token, sizeof token, left) < 0) {
            bf_set_error("xenstore wait: %s", strerror(errno));
            return -1;
        }
    }
}

/* InitWait, or further along; a Closed backend (a previous session) is waited out: it goes
 * back to InitWait once it sees our Initialising. */
static bool ready_for_rings(int s) { return s >= XenbusStateInitWait && s != XenbusStateClosed; }
static bool connected_or_gone(int s) { return s >= XenbusStateConnected; }
static bool left_connected(int s) { return s >= XenbusStateClosing || s < XenbusStateConnected; }
static bool closed(int s) { return s == XenbusStateClosed; }

static int set_state(struct bf *bf, enum xenbus_state state)
{
    return xs_printf(bf, bf->fe_path, "state", "%d", (int)state);
}

static int read_backend_limits(struct bf *bf)
{
    char path[256];
    unsigned long long v;
    snprintf(path, sizeof path, "%s/max-ring-page-order", bf->be_path);
    if (bf_xs_read_uint(bf, path, 0, &v) < 0) return -1;
    bf->feat.backend_max_ring_order = (unsigned)(v > BF_RING_ORDER_MAX ? BF_RING_ORDER_MAX : v);
    snprintf(path, sizeof path, "%s/multi-queue-max-queues", bf->be_path);
    if (bf_xs_read_uint(bf, path, 1, &v) < 0) return -1;
    bf->feat.backend_max_queues = (unsigned)(v > BF_QUEUES_MAX ? BF_QUEUES_MAX : v == 0 ? 1 : v);
    bf->feat.ring_order = bf->opt.ring_order < bf->feat.backend_max_ring_order ? bf->opt.ring_order
                                                                                 : bf->feat.backend_max_ring_order;
    bf->feat.queues = bf->opt.queues < bf->feat.backend_max_queues ? bf->opt.queues : bf->feat.backend_max_queues;
    return 0;
}

/* ring-page-order + ring-ref%u for multi-page rings, ring-ref for one page (as Linux does). */
static int publish_rings(struct bf *bf)
{
    if (bf->feat.ring_order > 0 && xs_printf(bf, bf->fe_path, "ring-page-order", "%u", bf->feat.ring_order) < 0)
        return -1;
    if (bf->feat.queues > 1 && xs_printf(bf, bf->fe_path, "multi-queue-num-queues", "%u", bf->feat.queues) < 0)
        return -1;
    for (unsigned q = 0; q < bf->feat.queues; q++) {
        char dir[192];
        if (bf->feat.queues > 1) snprintf(dir, sizeof dir, "%s/queue-%u", bf->fe_path, q);
        else snprintf(dir, sizeof dir, "%s", bf->fe_path);
        struct bf_queue *queue = &bf->queues[q];
        if (bf->feat.ring_order == 0) {
            if (xs_printf(bf, dir, "ring-ref", "%d", queue->ring_refs[0]) < 0) return -1;
        } else {
            for (unsigned i = 0; i < 1u << bf->feat.ring_order; i++) {
                char key[32];
                snprintf(key, sizeof key, "ring-ref%u", i);
                if (xs_printf(bf, dir, key, "%d", queue->ring_refs[i]) < 0) return -1;
            }
        }
        if (xs_printf(bf, dir, "event-channel", "%d", queue->port) < 0) return -1;
    }
    if (xs_printf(bf, bf->fe_path, "protocol", "%s", XEN_IO_PROTO_ABI_X86_64) < 0) return -1;
    return xs_printf(bf, bf->fe_path, "feature-persistent", "%d", bf->opt.persistent ? 1 : 0);
}

static int read_connected_keys(struct bf *bf)
{
    char path[256];
    unsigned long long v;
    unsigned long long sectors, sector_size, info, persistent, indirect, flush;
    struct key_spec { const char *key; unsigned long long fallback; unsigned long long *out; } keys[] = {
        { "sectors", 0, &sectors },
        { "sector-size", 512, &sector_size },
        { "info", 0, &info },
        { "feature-persistent", 0, &persistent },
        { "feature-max-indirect-segments", 0, &indirect },
        { "feature-flush-cache", 0, &flush },
    };
    for (unsigned i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", bf->be_path, keys[i].key);
        if (bf_xs_read_uint(bf, path, keys[i].fallback, &v) < 0) return -1;
        *keys[i].out = v;
    }
    if (sectors == 0) {
        bf_set_error("the backend published no sectors");
        return -1;
    }
    bf->feat.sectors = sectors;
    bf->feat.sector_size = (unsigned)sector_size;
    bf->feat.info = (unsigned)info;
    bf->feat.flush = flush != 0;
    bf->feat.backend_persistent = persistent != 0;
    bf->feat.persistent = bf->opt.persistent && persistent != 0;
    bf->feat.backend_max_indirect = (unsigned)(indirect > BF_INDIRECT_SEGS_MAX ? BF_INDIRECT_SEGS_MAX : indirect);
    /* As Linux: indirect descriptors only when they carry more than a direct request. */
    unsigned want = bf->opt.indirect_segments < bf->feat.backend_max_indirect ? bf->opt.indirect_segments
                                                                                : bf->feat.backend_max_indirect;
    bf->feat.indirect_segments = want > BLKIF_MAX_SEGMENTS_PER_REQUEST ? want : 0;
    bf->segs_max = bf->feat.indirect_segments > 0 ? bf->feat.indirect_segments : BLKIF_MAX_SEGMENTS_PER_REQUEST;
    return 0;
}

int bf_connect(struct bf *bf, unsigned devid)
{
    bf->devid = devid;
    snprintf(bf->fe_path, sizeof bf->fe_path, "/local/domain/%u/device/vbd/%u", bf->g->si.domid, devid);
    char path[256], value[128];
    snprintf(path, sizeof path, "%s/backend", bf->fe_path);
    if (sbg_xs_read(bf->g, path, value, sizeof value) < 0 || strlen(value) >= sizeof bf->be_path) {
        bf_set_error("no vbd %u in domain %u (%s: %s)", devid, bf->g->si.domid, path, strerror(errno));
        return -1;
    }
    strcpy(bf->be_path, value);
    unsigned long long backend_id;
    snprintf(path, sizeof path, "%s/backend-id", bf->fe_path);
    if (bf_xs_read_uint(bf, path, 0, &backend_id) < 0) return -1;
    bf->backend_domid = (domid_t)backend_id;

    /* A previous session left us Closed: Initialising asks the backend to reconnect. */
    unsigned long long own_state;
    snprintf(path, sizeof path, "%s/state", bf->fe_path);
    if (bf_xs_read_uint(bf, path, XenbusStateInitialising, &own_state) < 0) return -1;
    if (own_state >= XenbusStateInitialised && own_state <= XenbusStateClosing) {
        /* A previous process died mid-session: close that session first, so the backend
         * drops its rings, as blkfront does on resume. */
        if (set_state(bf, XenbusStateClosing) < 0) return -1;
        wait_backend(bf, left_connected, BF_XS_TIMEOUT_MS);
        if (set_state(bf, XenbusStateClosed) < 0) return -1;
        wait_backend(bf, closed, BF_XS_TIMEOUT_MS);
        own_state = XenbusStateClosed;
    }
    if (own_state != XenbusStateInitialising && set_state(bf, XenbusStateInitialising) < 0) return -1;
    int state = wait_backend(bf, ready_for_rings, BF_XS_TIMEOUT_MS);
    if (state < 0) return -1;
    if (state != XenbusStateInitWait) {
        bf_set_error("the backend is in state %d, not InitWait", state);
        return -1;
    }
    if (read_backend_limits(bf) < 0 || bf_rings_setup(bf) < 0) return -1;
    if (publish_rings(bf) < 0 || set_state(bf, XenbusStateInitialised) < 0) return -1;
    state = wait_backend(bf, connected_or_gone, BF_XS_TIMEOUT_MS);
    if (state < 0) return -1;
    if (state != XenbusStateConnected) {
        char err[256] = "";
        snprintf(path, sizeof path, "%s/error", bf->be_path);
        sbg_xs_read(bf->g, path, err, sizeof err);
        bf_set_error("the backend went to state %d instead of Connected%s%s", state, err[0] ? ": " : "", err);
        return -1;
    }
    if (read_connected_keys(bf) < 0 || bf_contexts_setup(bf) < 0) return -1;
    return set_state(bf, XenbusStateConnected);
}

/* Closing, then Closed once the backend left Connected, then wait for its Closed: only then
 * may the ring and data grants end (the backend has unmapped them). Never fails: a slow or
 * vanished backend just ends the wait, and grants still mapped are counted as leaked. */
void bf_disconnect(struct bf *bf)
{
    set_state(bf, XenbusStateClosing);
    wait_backend(bf, left_connected, BF_XS_TIMEOUT_MS);
    set_state(bf, XenbusStateClosed);
    bf->backend_state_at_close = wait_backend(bf, closed, BF_XS_TIMEOUT_MS);
    if (bf->backend_state_at_close < 0) bf->backend_state_at_close = backend_state(bf);
    if (bf->watching) {
        char path[256];
        snprintf(path, sizeof path, "%s/state", bf->be_path);
        sbg_xs_unwatch(bf->g, path, "blkfront-be-state");
        bf->watching = false;
    }
    bf_contexts_teardown(bf);
    bf_rings_teardown(bf);
}
