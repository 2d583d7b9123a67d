/*
 * A C guest for test/hypervisor/c-guest.test.ts: grants a page and offers a port to dom0, then
 * follows a short script with the TypeScript backend, one step per event:
 *   1. print "ready <ref> <gfn> <port>" and wait for an event;
 *   2. check the backend's bytes at offset 100; end_access must fail (still mapped); print "busy";
 *   3. wait; end_access must succeed (unmapped); notify dom0; print "ended";
 *   4. xenstore (only with argument "xs"): write, read back, watch and wait for one event.
 * Exit status 0 when every step held.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "splitblk-guest.h"

#define CHECK(cond)                                                                   \
    do {                                                                              \
        if (!(cond)) {                                                                \
            fprintf(stderr, "guest-selftest: %s:%d: %s failed\n", __FILE__, __LINE__, #cond); \
            exit(1);                                                                  \
        }                                                                             \
    } while (0)

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: guest-selftest <rundir> <domid> [xs]\n");
        return 2;
    }
    struct sbg_guest *g = malloc(sizeof *g);
    CHECK(g != NULL);
    CHECK(sbg_open(g, argv[1], (uint32_t)atoi(argv[2])) == 0);

    int64_t gfn = sbg_alloc_pages(g, 1);
    CHECK(gfn >= (int64_t)g->si.reserved_pages);
    uint8_t *page = sbg_page(g, (uint32_t)gfn);
    memcpy(page, "from C", 6);
    int ref = sbg_grant_access(g, 0, (uint32_t)gfn, false);
    CHECK(ref >= GNTTAB_NR_RESERVED_ENTRIES);
    int port = sbg_evtchn_alloc_unbound(g, 0);
    CHECK(port > 0);
    CHECK(sbg_evtchn_listen(g, (uint32_t)port) >= 0);
    printf("ready %d %lld %d\n", ref, (long long)gfn, port);
    fflush(stdout);

    CHECK(sbg_evtchn_wait(g, (uint32_t)port, 10000) == 1);
    CHECK(memcmp(page + 100, "from TS", 7) == 0);
    CHECK(sbg_end_access(g, (grant_ref_t)ref) == 0);
    CHECK((g->gnttab[ref].flags & (GTF_reading | GTF_writing)) == (GTF_reading | GTF_writing));
    printf("busy\n");
    fflush(stdout);

    CHECK(sbg_evtchn_wait(g, (uint32_t)port, 10000) == 1);
    CHECK(sbg_end_access(g, (grant_ref_t)ref) == 1);
    CHECK(g->gnttab[ref].flags == 0);
    CHECK(sbg_evtchn_notify(g, (uint32_t)port) == 0);
    printf("ended\n");
    fflush(stdout);

    if (argc > 3 && strcmp(argv[3], "xs") == 0) {
        char buf[128], path[256], token[64];
        CHECK(sbg_xs_write(g, "data/hello", "world") == 0);
        CHECK(sbg_xs_read(g, "data/hello", buf, sizeof buf) == 5 && strcmp(buf, "world") == 0);
        CHECK(sbg_xs_read(g, "data/missing", buf, sizeof buf) == -1 && errno == ENOENT);
        CHECK(sbg_xs_write(g, "data/other", "1") == 0);
        CHECK(sbg_xs_directory(g, "data", buf, sizeof buf) == 2);
        CHECK(sbg_xs_rm(g, "data/other") == 0);
        CHECK(sbg_xs_directory(g, "data", buf, sizeof buf) == 1 && strcmp(buf, "hello") == 0);
        CHECK(sbg_xs_watch(g, "data/watched", "tok") == 0);
        CHECK(sbg_xs_wait_watch(g, path, sizeof path, token, sizeof token, 10000) == 1);
        CHECK(strcmp(token, "tok") == 0);
        printf("xs ok %s\n", path);
        fflush(stdout);
    }
    sbg_evtchn_close(g, (uint32_t)port);
    sbg_close(g);
    free(g);
    return 0;
}
