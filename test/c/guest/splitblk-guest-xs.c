/*
 * splitblk-guest: a minimal xenstore client over the guest's ring page (docs/abi.md), as a
 * guest kernel's xenbus driver talks to xenstored: struct xenstore_domain_interface at
 * start-info storeGfn, kicks through storePort. One request at a time; watch events that
 * arrive while waiting for a reply are queued for sbg_xs_wait_watch.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "splitblk-guest.h"

#define XS_TIMEOUT_MS 10000

static struct xenstore_domain_interface *ring(struct sbg_guest *g)
{
    return sbg_page(g, g->si.store_gfn);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int remaining(int64_t deadline)
{
    int64_t left = deadline - now_ms();
    return left > 0 ? (int)left : 0;
}

/* Copy `len` bytes into the request ring, waiting for space; kicks xenstored. */
static int ring_write(struct sbg_guest *g, const void *data, size_t len, int64_t deadline)
{
    struct xenstore_domain_interface *intf = ring(g);
    const char *src = data;
    while (len > 0) {
        XENSTORE_RING_IDX prod = intf->req_prod;
        /* Acquire: xenstored's reads of the bytes it consumed happen before we overwrite them. */
        XENSTORE_RING_IDX cons = __atomic_load_n(&intf->req_cons, __ATOMIC_ACQUIRE);
        uint32_t used = prod - cons;
        if (used > XENSTORE_RING_SIZE) {
            errno = EIO; /* The daemon corrupted the indexes. */
            return -1;
        }
        uint32_t space = XENSTORE_RING_SIZE - used;
        if (space == 0) {
            sbg_evtchn_notify(g, g->si.store_port);
            if (sbg_evtchn_wait(g, g->si.store_port, remaining(deadline)) <= 0) goto timeout;
            continue;
        }
        uint32_t chunk = XENSTORE_RING_SIZE - MASK_XENSTORE_IDX(prod);
        if (chunk > space) chunk = space;
        if (chunk > len) chunk = (uint32_t)len;
        memcpy(intf->req + MASK_XENSTORE_IDX(prod), src, chunk);
        /* Release: the bytes are visible before the index that publishes them. */
        __atomic_store_n(&intf->req_prod, prod + chunk, __ATOMIC_RELEASE);
        src += chunk;
        len -= chunk;
    }
    sbg_evtchn_notify(g, g->si.store_port);
    return 0;
timeout:
    errno = ETIMEDOUT;
    return -1;
}

/* Copy `len` bytes out of the response ring, waiting for them. */
static int ring_read(struct sbg_guest *g, void *data, size_t len, int64_t deadline)
{
    struct xenstore_domain_interface *intf = ring(g);
    char *dst = data;
    while (len > 0) {
        XENSTORE_RING_IDX cons = intf->rsp_cons;
        /* Acquire: the bytes xenstored wrote are visible once we see the index. */
        XENSTORE_RING_IDX prod = __atomic_load_n(&intf->rsp_prod, __ATOMIC_ACQUIRE);
        uint32_t avail = prod - cons;
        if (avail > XENSTORE_RING_SIZE) {
            errno = EIO;
            return -1;
        }
        if (avail == 0) {
            if (sbg_evtchn_wait(g, g->si.store_port, remaining(deadline)) <= 0) goto timeout;
            continue;
        }
        uint32_t chunk = XENSTORE_RING_SIZE - MASK_XENSTORE_IDX(cons);
        if (chunk > avail) chunk = avail;
        if (chunk > len) chunk = (uint32_t)len;
        memcpy(dst, intf->rsp + MASK_XENSTORE_IDX(cons), chunk);
        /* Release: our reads of the bytes happen before xenstored may reuse the space. */
        __atomic_store_n(&intf->rsp_cons, cons + chunk, __ATOMIC_RELEASE);
        dst += chunk;
        len -= chunk;
        sbg_evtchn_notify(g, g->si.store_port);
    }
    return 0;
timeout:
    errno = ETIMEDOUT;
    return -1;
}

static int errno_of(const char *name)
{
    for (size_t i = 0; i < sizeof xsd_errors / sizeof xsd_errors[0]; i++)
        if (strcmp(xsd_errors[i].errstring, name) == 0) return xsd_errors[i].errnum;
    return EIO;
}

/* Queue a watch event (path\0token\0); the oldest is dropped when the queue is full. */
static void queue_event(struct sbg_guest *g, const char *payload, uint32_t len)
{
    if (g->xs_events_count == SBG_XS_EVENTS_MAX) {
        memmove(&g->xs_events[0], &g->xs_events[1], sizeof g->xs_events[0] * (SBG_XS_EVENTS_MAX - 1));
        g->xs_events_count--;
    }
    struct sbg_xs_event *ev = &g->xs_events[g->xs_events_count++];
    size_t path_len = strnlen(payload, len);
    const char *token = path_len < len ? payload + path_len + 1 : "";
    size_t token_len = path_len < len ? strnlen(token, len - path_len - 1) : 0;
    if (path_len >= sizeof ev->path) path_len = sizeof ev->path - 1;
    if (token_len >= sizeof ev->token) token_len = sizeof ev->token - 1;
    memcpy(ev->path, payload, path_len);
    ev->path[path_len] = '\0';
    memcpy(ev->token, token, token_len);
    ev->token[token_len] = '\0';
}

/* Read one message; watch events are queued and reported as type XS_WATCH_EVENT. */
static int read_message(struct sbg_guest *g, struct xsd_sockmsg *hdr, char *payload, int64_t deadline)
{
    if (ring_read(g, hdr, sizeof *hdr, deadline) < 0) return -1;
    if (hdr->len > XENSTORE_PAYLOAD_MAX) {
        errno = EIO;
        return -1;
    }
    if (ring_read(g, payload, hdr->len, deadline) < 0) return -1;
    payload[hdr->len] = '\0';
    if (hdr->type == XS_WATCH_EVENT) queue_event(g, payload, hdr->len);
    return 0;
}

/* Send a request made of `n` parts and wait for its reply into `reply` (nul-terminated). */
static int request(struct sbg_guest *g, uint32_t type, const void *const *parts, const size_t *lens, int n,
                   char *reply, uint32_t *reply_len)
{
    int64_t deadline = now_ms() + XS_TIMEOUT_MS;
    struct xsd_sockmsg hdr = { .type = type, .req_id = ++g->xs_req_id, .tx_id = 0, .len = 0 };
    for (int i = 0; i < n; i++) hdr.len += (uint32_t)lens[i];
    if (hdr.len > XENSTORE_PAYLOAD_MAX) {
        errno = E2BIG;
        return -1;
    }
    sbg_evtchn_listen(g, g->si.store_port);
    if (ring_write(g, &hdr, sizeof hdr, deadline) < 0) return -1;
    for (int i = 0; i < n; i++)
        if (ring_write(g, parts[i], lens[i], deadline) < 0) return -1;
    for (;;) {
        struct xsd_sockmsg rsp;
        if (read_message(g, &rsp, reply, deadline) < 0) return -1;
        if (rsp.type == XS_WATCH_EVENT) continue;
        if (rsp.req_id != hdr.req_id) continue; /* A stale reply of a request that timed out. */
        if (rsp.type == XS_ERROR) {
            errno = errno_of(reply);
            return -1;
        }
        *reply_len = rsp.len;
        return 0;
    }
}

int sbg_xs_write(struct sbg_guest *g, const char *path, const char *value)
{
    char reply[XENSTORE_PAYLOAD_MAX + 1];
    uint32_t len;
    const void *parts[] = { path, value };
    size_t lens[] = { strlen(path) + 1, strlen(value) };
    return request(g, XS_WRITE, parts, lens, 2, reply, &len);
}

int sbg_xs_read(struct sbg_guest *g, const char *path, char *buf, size_t buf_len)
{
    char reply[XENSTORE_PAYLOAD_MAX + 1];
    uint32_t len;
    const void *parts[] = { path };
    size_t lens[] = { strlen(path) + 1 };
    if (request(g, XS_READ, parts, lens, 1, reply, &len) < 0) return -1;
    if (buf_len == 0 || len >= buf_len) {
        errno = ENOSPC;
        return -1;
    }
    memcpy(buf, reply, len);
    buf[len] = '\0';
    return (int)len;
}

int sbg_xs_rm(struct sbg_guest *g, const char *path)
{
    char reply[XENSTORE_PAYLOAD_MAX + 1];
    uint32_t len;
    const void *parts[] = { path };
    size_t lens[] = { strlen(path) + 1 };
    return request(g, XS_RM, parts, lens, 1, reply, &len);
}

int sbg_xs_directory(struct sbg_guest *g, const char *path, char *buf, size_t buf_len)
{
    char reply[XENSTORE_PAYLOAD_MAX + 1];
    uint32_t len;
    const void *parts[] = { path };
    size_t lens[] = { strlen(path) + 1 };
    if (request(g, XS_DIRECTORY, parts, lens, 1, reply, &len) < 0) return -1;
    if (len > buf_len) {
        errno = ENOSPC;
        return -1;
    }
    memcpy(buf, reply, len);
    int count = 0;
    for (uint32_t i = 0; i < len; i++) count += reply[i] == '\0';
    return count;
}

/* XS_WATCH and XS_UNWATCH take the same payload: path\0token\0. */
static int watch_request(struct sbg_guest *g, uint32_t type, const char *path, const char *token)
{
    char reply[XENSTORE_PAYLOAD_MAX + 1];
    uint32_t len;
    const void *parts[] = { path, token };
    size_t lens[] = { strlen(path) + 1, strlen(token) + 1 };
    return request(g, type, parts, lens, 2, reply, &len);
}

int sbg_xs_watch(struct sbg_guest *g, const char *path, const char *token)
{
    return watch_request(g, XS_WATCH, path, token);
}

int sbg_xs_unwatch(struct sbg_guest *g, const char *path, const char *token)
{
    return watch_request(g, XS_UNWATCH, path, token);
}

int sbg_xs_wait_watch(struct sbg_guest *g, char *path, size_t path_len, char *token, size_t token_len,
                      int timeout_ms)
{
    int64_t deadline = now_ms() + (timeout_ms < 0 ? (int64_t)1 << 40 : timeout_ms);
    char payload[XENSTORE_PAYLOAD_MAX + 1];
    while (g->xs_events_count == 0) {
        struct xenstore_domain_interface *intf = ring(g);
        /* Only start reading a message once one is there, so a timeout never splits one. */
        if (__atomic_load_n(&intf->rsp_prod, __ATOMIC_ACQUIRE) == intf->rsp_cons) {
            sbg_evtchn_listen(g, g->si.store_port);
            if (sbg_evtchn_wait(g, g->si.store_port, remaining(deadline)) <= 0) return 0;
            continue;
        }
        struct xsd_sockmsg hdr;
        if (read_message(g, &hdr, payload, now_ms() + XS_TIMEOUT_MS) < 0) return -1;
    }
    struct sbg_xs_event *ev = &g->xs_events[0];
    snprintf(path, path_len, "%s", ev->path);
    snprintf(token, token_len, "%s", ev->token);
    memmove(&g->xs_events[0], &g->xs_events[1], sizeof g->xs_events[0] * (g->xs_events_count - 1));
    g->xs_events_count--;
    return 1;
}
