/*
 * splitblk-guest: the guest side of the splitblk run-directory ABI (docs/abi.md) in C.
 * Shared words are accessed with __atomic builtins; each one says what it orders.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "splitblk-guest.h"

#define GNTTAB_FIRST_FREE GNTTAB_NR_RESERVED_ENTRIES

/* ---- files ---------------------------------------------------------------------------- */

static int domain_path(const struct sbg_guest *g, char *out, size_t len, uint32_t domid, const char *name)
{
    int n = snprintf(out, len, "%s/domains/%u/%s", g->rundir, domid, name);
    if (n < 0 || (size_t)n >= len) {
        errno = ENAMETOOLONG;
        return -1;
    }
    return 0;
}

/* mmap a whole shared file read-write; `bytes` is the size expected (0: whatever it is). */
static void *map_file(const char *path, size_t *bytes)
{
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) errno = ESRCH;
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || (*bytes != 0 && (size_t)st.st_size < *bytes) || st.st_size == 0) {
        close(fd);
        errno = ESRCH;
        return NULL;
    }
    if (*bytes == 0) *bytes = (size_t)st.st_size;
    void *p = mmap(NULL, *bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    return p == MAP_FAILED ? NULL : p;
}

static int json_uint(const char *text, const char *key, uint32_t *out)
{
    char pattern[64];
    snprintf(pattern, sizeof pattern, "\"%s\":", key);
    const char *p = strstr(text, pattern);
    if (p == NULL) return -1;
    p += strlen(pattern);
    while (*p == ' ') p++;
    char *end;
    unsigned long v = strtoul(p, &end, 10);
    if (end == p || v > UINT32_MAX) return -1;
    *out = (uint32_t)v;
    return 0;
}

static int json_string(const char *text, const char *key, char *out, size_t len)
{
    char pattern[64];
    snprintf(pattern, sizeof pattern, "\"%s\":\"", key);
    const char *p = strstr(text, pattern);
    if (p == NULL) return -1;
    p += strlen(pattern);
    size_t n = 0;
    while (p[n] != '"' && p[n] != '\0' && n + 1 < len) n++;
    memcpy(out, p, n);
    out[n] = '\0';
    return 0;
}

static int read_start_info(struct sbg_guest *g, uint32_t domid)
{
    char path[PATH_MAX], text[4096];
    if (domain_path(g, path, sizeof path, domid, "start-info") < 0) return -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        errno = ESRCH;
        return -1;
    }
    ssize_t n = read(fd, text, sizeof text - 1);
    close(fd);
    if (n <= 0) {
        errno = EINVAL;
        return -1;
    }
    text[n] = '\0';
    struct sbg_start_info *si = &g->si;
    if (json_uint(text, "domid", &si->domid) < 0 || json_uint(text, "memoryPages", &si->memory_pages) < 0 ||
        json_uint(text, "reservedPages", &si->reserved_pages) < 0 ||
        json_uint(text, "storeGfn", &si->store_gfn) < 0 || json_uint(text, "storePort", &si->store_port) < 0 ||
        json_uint(text, "grantEntries", &si->grant_entries) < 0 ||
        json_uint(text, "evtchnPorts", &si->evtchn_ports) < 0 || si->domid != domid ||
        si->evtchn_ports == 0 || si->evtchn_ports > 4096) {
        errno = EINVAL;
        return -1;
    }
    if (json_string(text, "name", si->name, sizeof si->name) < 0) si->name[0] = '\0';
    return 0;
}

int sbg_open(struct sbg_guest *g, const char *rundir, uint32_t domid)
{
    memset(g, 0, sizeof *g);
    if (strlen(rundir) >= sizeof g->rundir) {
        errno = ENAMETOOLONG;
        return -1;
    }
    strcpy(g->rundir, rundir);
    if (read_start_info(g, domid) < 0) return -1;

    char path[PATH_MAX];
    g->memory_bytes = (size_t)g->si.memory_pages * SBG_PAGE_SIZE;
    size_t gnttab_bytes = (size_t)g->si.grant_entries * sizeof(grant_entry_v1_t);
    size_t evtchn_bytes = (size_t)g->si.evtchn_ports * SBG_EVTCHN_ENTRY_WORDS * 4;
    if (domain_path(g, path, sizeof path, domid, "memory") < 0 || !(g->memory = map_file(path, &g->memory_bytes)))
        goto fail;
    if (domain_path(g, path, sizeof path, domid, "gnttab") < 0 || !(g->gnttab = map_file(path, &gnttab_bytes)))
        goto fail;
    if (domain_path(g, path, sizeof path, domid, "evtchn") < 0 || !(g->evtchn = map_file(path, &evtchn_bytes)))
        goto fail;
    g->page_used = calloc(g->si.memory_pages, 1);
    g->doorbell_fd = malloc(g->si.evtchn_ports * sizeof(int));
    g->bell_fd = malloc(g->si.evtchn_ports * sizeof(int));
    g->bell_binding = calloc(g->si.evtchn_ports, sizeof(uint32_t));
    if (!g->page_used || !g->doorbell_fd || !g->bell_fd || !g->bell_binding) goto fail;
    for (uint32_t p = 0; p < g->si.evtchn_ports; p++) g->doorbell_fd[p] = g->bell_fd[p] = -1;
    memset(g->page_used, 1, g->si.reserved_pages < g->si.memory_pages ? g->si.reserved_pages : g->si.memory_pages);
    for (int i = 0; i < SBG_PEERS_MAX; i++) g->peers[i].domid = 0xffff;
    g->grant_hint = GNTTAB_FIRST_FREE;
    /* A doorbell whose receiver went away must not kill us: writes then fail with EPIPE. */
    struct sigaction old;
    if (sigaction(SIGPIPE, NULL, &old) == 0 && old.sa_handler == SIG_DFL) signal(SIGPIPE, SIG_IGN);
    return 0;
fail:
    sbg_close(g);
    return -1;
}

void sbg_close(struct sbg_guest *g)
{
    if (g->doorbell_fd != NULL) {
        for (uint32_t p = 0; p < g->si.evtchn_ports; p++) {
            if (g->doorbell_fd[p] >= 0) close(g->doorbell_fd[p]);
            if (g->bell_fd[p] >= 0) close(g->bell_fd[p]);
        }
    }
    for (int i = 0; i < SBG_PEERS_MAX; i++)
        if (g->peers[i].words != NULL) munmap(g->peers[i].words, g->si.evtchn_ports * SBG_EVTCHN_ENTRY_WORDS * 4);
    if (g->memory) munmap(g->memory, g->memory_bytes);
    if (g->gnttab) munmap(g->gnttab, (size_t)g->si.grant_entries * sizeof(grant_entry_v1_t));
    if (g->evtchn) munmap(g->evtchn, g->si.evtchn_ports * SBG_EVTCHN_ENTRY_WORDS * 4);
    free(g->page_used);
    free(g->doorbell_fd);
    free(g->bell_fd);
    free(g->bell_binding);
    memset(g, 0, sizeof *g);
}

/* ---- memory --------------------------------------------------------------------------- */

void *sbg_page(struct sbg_guest *g, uint32_t gfn)
{
    return gfn < g->si.memory_pages ? g->memory + (size_t)gfn * SBG_PAGE_SIZE : NULL;
}

int64_t sbg_alloc_pages(struct sbg_guest *g, uint32_t count)
{
    uint32_t run = 0;
    for (uint32_t gfn = g->si.reserved_pages; count > 0 && gfn < g->si.memory_pages; gfn++) {
        run = g->page_used[gfn] ? 0 : run + 1;
        if (run == count) {
            memset(g->page_used + gfn - count + 1, 1, count);
            return gfn - count + 1;
        }
    }
    errno = ENOMEM;
    return -1;
}

void sbg_free_pages(struct sbg_guest *g, uint32_t gfn, uint32_t count)
{
    if (gfn >= g->si.reserved_pages && gfn + count <= g->si.memory_pages) memset(g->page_used + gfn, 0, count);
}

/* ---- grants --------------------------------------------------------------------------- */

/* The 32-bit word holding flags (low half) and domid (high half) of an entry. */
static uint32_t *grant_word(struct sbg_guest *g, grant_ref_t ref)
{
    return (uint32_t *)&g->gnttab[ref];
}

int sbg_grant_access(struct sbg_guest *g, domid_t domid, uint32_t gfn, bool readonly)
{
    uint32_t n = g->si.grant_entries - GNTTAB_FIRST_FREE;
    for (uint32_t i = 0; i < n; i++) {
        grant_ref_t ref = GNTTAB_FIRST_FREE + (g->grant_hint - GNTTAB_FIRST_FREE + i) % n;
        uint32_t *word = grant_word(g, ref);
        if (__atomic_load_n(word, __ATOMIC_RELAXED) != 0) continue;
        /* Frame first; the release store of flags|domid then publishes frame and domid together
         * (Xen guests: write frame and domid, wmb(), write flags). */
        g->gnttab[ref].frame = gfn;
        uint32_t flags = GTF_permit_access | (readonly ? GTF_readonly : 0);
        __atomic_store_n(word, flags | ((uint32_t)domid << 16), __ATOMIC_RELEASE);
        g->grant_hint = ref + 1 < g->si.grant_entries ? ref + 1 : GNTTAB_FIRST_FREE;
        return (int)ref;
    }
    errno = ENOSPC;
    return -1;
}

int sbg_end_access(struct sbg_guest *g, grant_ref_t ref)
{
    if (ref >= g->si.grant_entries) {
        errno = EINVAL;
        return -1;
    }
    uint32_t *word = grant_word(g, ref);
    uint32_t old = __atomic_load_n(word, __ATOMIC_RELAXED);
    do {
        if (old & (GTF_reading | GTF_writing)) return 0;
        /* CAS(flags without busy bits -> 0), seq-cst: once it succeeds no mapper can take the
         * entry, so the frame may be reused; it fails when a mapper set a busy bit meanwhile. */
    } while (!__atomic_compare_exchange_n(word, &old, 0, false, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED));
    return 1;
}

/* ---- event channels ------------------------------------------------------------------- */

static uint32_t *binding_word(uint32_t *table, uint32_t port)
{
    return &table[port * SBG_EVTCHN_ENTRY_WORDS];
}

static uint32_t *flags_word(uint32_t *table, uint32_t port)
{
    return &table[port * SBG_EVTCHN_ENTRY_WORDS + 1];
}

static bool valid_port(struct sbg_guest *g, uint32_t port)
{
    if (port == 0 || port >= g->si.evtchn_ports) {
        errno = EINVAL;
        return false;
    }
    return true;
}

/* The port table of `domid` (ours, or a peer's mapped on first use; remapped if it died). */
static uint32_t *peer_table(struct sbg_guest *g, domid_t domid)
{
    if (domid == g->si.domid) return g->evtchn;
    size_t bytes = (size_t)g->si.evtchn_ports * SBG_EVTCHN_ENTRY_WORDS * 4;
    struct sbg_peer *free_slot = NULL;
    for (int i = 0; i < SBG_PEERS_MAX; i++) {
        struct sbg_peer *peer = &g->peers[i];
        if (peer->domid == domid) {
            if (__atomic_load_n(&peer->words[1], __ATOMIC_ACQUIRE) != SBG_TABLE_DYING) return peer->words;
            munmap(peer->words, bytes);
            peer->words = NULL;
            peer->domid = 0xffff;
        }
        if (peer->domid == 0xffff && free_slot == NULL) free_slot = peer;
    }
    if (free_slot == NULL) { /* Evict the first slot: peers are few in practice. */
        free_slot = &g->peers[0];
        munmap(free_slot->words, bytes);
    }
    char path[PATH_MAX];
    if (domain_path(g, path, sizeof path, domid, "evtchn") < 0) return NULL;
    uint32_t *words = map_file(path, &bytes);
    if (words == NULL) return NULL;
    if (__atomic_load_n(&words[0], __ATOMIC_ACQUIRE) != SBG_EVTCHN_MAGIC || words[1] == SBG_TABLE_DYING) {
        munmap(words, bytes);
        errno = ESRCH;
        return NULL;
    }
    free_slot->domid = domid;
    free_slot->words = words;
    return words;
}

/* Claim a free port: CAS FREE -> RESERVED so that concurrent allocators never share one. */
static int reserve_port(struct sbg_guest *g, domid_t remote)
{
    for (uint32_t port = 1; port < g->si.evtchn_ports; port++) {
        uint32_t expected = SBG_EVTCHN_FREE;
        if (__atomic_load_n(binding_word(g->evtchn, port), __ATOMIC_RELAXED) != SBG_EVTCHN_FREE) continue;
        if (!__atomic_compare_exchange_n(binding_word(g->evtchn, port), &expected,
                                         SBG_EVTCHN_BINDING(SBG_EVTCHN_RESERVED, 0, remote), false,
                                         __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
            continue;
        /* Nobody can reach a reserved port: reset what a stale notifier may have left. */
        __atomic_store_n(flags_word(g->evtchn, port), 0, __ATOMIC_SEQ_CST);
        return (int)port;
    }
    errno = ENOSPC;
    return -1;
}

int sbg_evtchn_alloc_unbound(struct sbg_guest *g, domid_t remote)
{
    int port = reserve_port(g, remote);
    if (port < 0) return -1;
    /* Seq-cst: the flag reset above is visible before a binder can see UNBOUND. */
    __atomic_store_n(binding_word(g->evtchn, port), SBG_EVTCHN_BINDING(SBG_EVTCHN_UNBOUND, 0, remote),
                     __ATOMIC_SEQ_CST);
    return port;
}

int sbg_evtchn_bind_interdomain(struct sbg_guest *g, domid_t remote, uint32_t remote_port)
{
    if (!valid_port(g, remote_port)) return -1;
    uint32_t *table = peer_table(g, remote);
    if (table == NULL) return -1;
    int port = reserve_port(g, remote);
    if (port < 0) return -1;
    /* One CAS checks that the remote port is offered to us and takes it. */
    uint32_t expected = SBG_EVTCHN_BINDING(SBG_EVTCHN_UNBOUND, 0, g->si.domid);
    if (!__atomic_compare_exchange_n(binding_word(table, remote_port), &expected,
                                     SBG_EVTCHN_BINDING(SBG_EVTCHN_INTERDOMAIN, port, g->si.domid), false,
                                     __ATOMIC_SEQ_CST, __ATOMIC_RELAXED)) {
        __atomic_store_n(binding_word(g->evtchn, port), SBG_EVTCHN_FREE, __ATOMIC_SEQ_CST);
        errno = EINVAL;
        return -1;
    }
    __atomic_store_n(binding_word(g->evtchn, port), SBG_EVTCHN_BINDING(SBG_EVTCHN_INTERDOMAIN, remote_port, remote),
                     __ATOMIC_SEQ_CST);
    return port;
}

/* Write one byte to the peer's doorbell FIFO; a missing or departed receiver is fine. */
static void ring(struct sbg_guest *g, uint32_t port, uint32_t binding)
{
    if (g->bell_fd[port] >= 0 && g->bell_binding[port] != binding) {
        close(g->bell_fd[port]);
        g->bell_fd[port] = -1;
    }
    for (int attempt = 0; attempt < 2; attempt++) {
        if (g->bell_fd[port] < 0) {
            char name[32], path[PATH_MAX];
            snprintf(name, sizeof name, "evtchn-%u", SBG_EVTCHN_PORT(binding));
            if (domain_path(g, path, sizeof path, SBG_EVTCHN_DOMID(binding), name) < 0) return;
            /* ENXIO (no reader) or ENOENT (nobody listens yet): the pending bit waits for it. */
            int fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
            if (fd < 0) return;
            g->bell_fd[port] = fd;
            g->bell_binding[port] = binding;
        }
        char byte = 1;
        if (write(g->bell_fd[port], &byte, 1) == 1 || errno == EAGAIN) return;
        close(g->bell_fd[port]); /* EPIPE: that receiver went away; a new one may be listening. */
        g->bell_fd[port] = -1;
    }
}

int sbg_evtchn_notify(struct sbg_guest *g, uint32_t port)
{
    if (!valid_port(g, port)) return -1;
    uint32_t binding = __atomic_load_n(binding_word(g->evtchn, port), __ATOMIC_ACQUIRE);
    if (SBG_EVTCHN_STATE(binding) != SBG_EVTCHN_INTERDOMAIN) return 0; /* unbound/closed: no-op */
    if (SBG_EVTCHN_PORT(binding) == 0) return 0; /* port 0 is a table header: a forged binding */
    uint32_t *table = peer_table(g, (domid_t)SBG_EVTCHN_DOMID(binding));
    if (table == NULL) return 0;
    /* Seq-cst RMW: everything we wrote (ring requests, indexes) is visible before the peer can
     * see the event; the old value says whether the peer needs a wake-up. */
    uint32_t old = __atomic_fetch_or(flags_word(table, SBG_EVTCHN_PORT(binding)), SBG_EVTCHN_PENDING, __ATOMIC_SEQ_CST);
    if (old & (SBG_EVTCHN_PENDING | SBG_EVTCHN_MASKED | SBG_EVTCHN_POLLING)) return 0;
    ring(g, port, binding);
    return 0;
}

int sbg_evtchn_listen(struct sbg_guest *g, uint32_t port)
{
    if (!valid_port(g, port)) return -1;
    if (g->doorbell_fd[port] >= 0) return g->doorbell_fd[port];
    char name[32], path[PATH_MAX];
    snprintf(name, sizeof name, "evtchn-%u", port);
    if (domain_path(g, path, sizeof path, g->si.domid, name) < 0) return -1;
    if (mkfifo(path, 0600) < 0 && errno != EEXIST) return -1;
    /* O_RDWR: the FIFO never reports EOF when writers come and go. */
    int fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return -1;
    g->doorbell_fd[port] = fd;
    return fd;
}

void sbg_evtchn_drain(struct sbg_guest *g, uint32_t port)
{
    char buf[256];
    if (port < g->si.evtchn_ports && g->doorbell_fd[port] >= 0)
        while (read(g->doorbell_fd[port], buf, sizeof buf) > 0) {
        }
}

bool sbg_evtchn_test_and_clear(struct sbg_guest *g, uint32_t port)
{
    if (!valid_port(g, port)) return false;
    uint32_t *flags = flags_word(g->evtchn, port);
    if (!(__atomic_load_n(flags, __ATOMIC_RELAXED) & SBG_EVTCHN_PENDING)) return false;
    /* Seq-cst: the clear is ordered before our reads of what the notifier wrote. */
    return __atomic_fetch_and(flags, ~SBG_EVTCHN_PENDING, __ATOMIC_SEQ_CST) & SBG_EVTCHN_PENDING;
}

/* Clear pending unless the port is masked (a masked event waits for unmask). */
static bool take_event(struct sbg_guest *g, uint32_t port)
{
    uint32_t *flags = flags_word(g->evtchn, port);
    uint32_t old = __atomic_load_n(flags, __ATOMIC_RELAXED);
    while ((old & SBG_EVTCHN_PENDING) && !(old & SBG_EVTCHN_MASKED)) {
        if (__atomic_compare_exchange_n(flags, &old, old & ~SBG_EVTCHN_PENDING, false, __ATOMIC_SEQ_CST,
                                        __ATOMIC_RELAXED))
            return true;
    }
    return false;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int sbg_evtchn_wait(struct sbg_guest *g, uint32_t port, int timeout_ms)
{
    int fd = sbg_evtchn_listen(g, port);
    if (fd < 0) return -1;
    int64_t deadline = now_ms() + timeout_ms;
    for (;;) {
        if (take_event(g, port)) return 1;
        int wait = timeout_ms < 0 ? -1 : (int)(deadline - now_ms());
        if (timeout_ms >= 0 && wait <= 0) return 0;
        struct pollfd p = { .fd = fd, .events = POLLIN };
        int r = poll(&p, 1, wait);
        if (r < 0 && errno != EINTR) return -1;
        if (r > 0) sbg_evtchn_drain(g, port);
    }
}

void sbg_evtchn_mask(struct sbg_guest *g, uint32_t port)
{
    if (valid_port(g, port)) __atomic_fetch_or(flags_word(g->evtchn, port), SBG_EVTCHN_MASKED, __ATOMIC_SEQ_CST);
}

void sbg_evtchn_unmask(struct sbg_guest *g, uint32_t port)
{
    if (!valid_port(g, port)) return;
    uint32_t old = __atomic_fetch_and(flags_word(g->evtchn, port), ~SBG_EVTCHN_MASKED, __ATOMIC_SEQ_CST);
    /* A notifier that found us masked did not ring: ring ourselves so a poller wakes. */
    if ((old & SBG_EVTCHN_PENDING) && g->doorbell_fd[port] >= 0) {
        char byte = 1;
        if (write(g->doorbell_fd[port], &byte, 1) < 0) { /* full FIFO: a wake-up is queued anyway */
        }
    }
}

int sbg_evtchn_close(struct sbg_guest *g, uint32_t port)
{
    if (!valid_port(g, port)) return -1;
    /* The doorbell goes first: once the port is free it may be reused along with the FIFO name. */
    /* A destroyed domain's domid may belong to a new domain already: touch nothing outside. */
    bool dying = __atomic_load_n(&g->evtchn[1], __ATOMIC_ACQUIRE) == SBG_TABLE_DYING;
    if (g->doorbell_fd[port] >= 0) {
        char name[32], path[PATH_MAX];
        snprintf(name, sizeof name, "evtchn-%u", port);
        if (!dying && domain_path(g, path, sizeof path, g->si.domid, name) == 0) unlink(path);
        close(g->doorbell_fd[port]);
        g->doorbell_fd[port] = -1;
    }
    if (g->bell_fd[port] >= 0) {
        close(g->bell_fd[port]);
        g->bell_fd[port] = -1;
    }
    for (int attempt = 0; attempt < 8; attempt++) {
        uint32_t binding = __atomic_load_n(binding_word(g->evtchn, port), __ATOMIC_ACQUIRE);
        if (binding == SBG_EVTCHN_FREE) return 0;
        if (SBG_EVTCHN_STATE(binding) == SBG_EVTCHN_INTERDOMAIN && !dying) {
            /* Tell the peer: its end becomes unbound (offered back to us) if it still names us. */
            uint32_t *table = peer_table(g, (domid_t)SBG_EVTCHN_DOMID(binding));
            uint32_t bound = SBG_EVTCHN_BINDING(SBG_EVTCHN_INTERDOMAIN, port, g->si.domid);
            if (table != NULL)
                __atomic_compare_exchange_n(binding_word(table, SBG_EVTCHN_PORT(binding)), &bound,
                                            SBG_EVTCHN_BINDING(SBG_EVTCHN_UNBOUND, 0, g->si.domid), false,
                                            __ATOMIC_SEQ_CST, __ATOMIC_RELAXED);
        }
        if (__atomic_compare_exchange_n(binding_word(g->evtchn, port), &binding, SBG_EVTCHN_FREE, false,
                                        __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
            return 0;
    }
    errno = EBUSY;
    return -1;
}
