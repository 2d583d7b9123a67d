/*
 * The C side of the ring differential test: runs a script of ring operations, read from stdin,
 * with the real ring.h macros over DEFINE_RING_TYPES(blkif, ...) from <xen/io/blkif.h>, and
 * prints one line per operation. test/ring/script.ts runs the same script on the TypeScript
 * ring; the outputs (notify decisions, counts, hashes of what was read and the hex of the whole
 * ring) must match byte for byte.
 *
 * Script lines: "init PAGES START", "req N", "push", "cons N", "rsp N", "pushrsp", "rcons N",
 * "fcreq", "fcrsp", "unc-req", "unc-rsp", "free", "dump".
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
/* The legacy interface (no __XEN_INTERFACE_VERSION__) maps xen_mb() & co. onto these. */
#define mb() __sync_synchronize()
#define rmb() __sync_synchronize()
#define wmb() __sync_synchronize()
#include <xen/io/blkif.h>

static uint32_t fnv1a(const uint8_t *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 16777619u;
    }
    return h;
}

int main(void)
{
    char cmd[32];
    unsigned long a, b;
    uint8_t *page = NULL;
    size_t bytes = 0;
    blkif_sring_t *s = NULL;
    blkif_front_ring_t f = {0};
    blkif_back_ring_t k = {0};
    uint32_t req_seq = 0, rsp_seq = 0;
    int notify, more;

    while (scanf("%31s", cmd) == 1) {
        if (!strcmp(cmd, "init")) {
            if (scanf("%lu %lu", &a, &b) != 2) return 2;
            bytes = a * 4096;
            page = calloc(1, bytes);
            s = (blkif_sring_t *)page;
            SHARED_RING_INIT(s);
            s->req_prod = s->rsp_prod = (RING_IDX)b;
            s->req_event = s->rsp_event = (RING_IDX)b + 1;
            FRONT_RING_ATTACH(&f, s, (RING_IDX)b, bytes);
            BACK_RING_ATTACH(&k, s, (RING_IDX)b, bytes);
            printf("size %u\n", RING_SIZE(&f));
        } else if (!strcmp(cmd, "req")) {
            if (scanf("%lu", &a) != 1) return 2;
            for (unsigned long i = 0; i < a; i++, req_seq++) {
                uint8_t *r = (uint8_t *)RING_GET_REQUEST(&f, f.req_prod_pvt);
                for (size_t j = 0; j < sizeof(blkif_request_t); j++)
                    r[j] = (uint8_t)(req_seq * 31 + j * 7 + 1);
                f.req_prod_pvt++;
            }
            printf("req %lu\n", a);
        } else if (!strcmp(cmd, "push")) {
            RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&f, notify);
            printf("notify-req %d\n", notify ? 1 : 0);
        } else if (!strcmp(cmd, "cons")) {
            if (scanf("%lu", &a) != 1) return 2;
            for (unsigned long i = 0; i < a; i++) {
                blkif_request_t copy;
                if (RING_REQUEST_CONS_OVERFLOW(&k, k.req_cons)) {
                    printf("cons-overflow\n");
                    break;
                }
                RING_COPY_REQUEST(&k, k.req_cons, &copy);
                k.req_cons++;
                printf("got-req %08x\n", fnv1a((uint8_t *)&copy, sizeof(copy)));
            }
        } else if (!strcmp(cmd, "rsp")) {
            if (scanf("%lu", &a) != 1) return 2;
            for (unsigned long i = 0; i < a; i++, rsp_seq++) {
                uint8_t *r = (uint8_t *)RING_GET_RESPONSE(&k, k.rsp_prod_pvt);
                for (size_t j = 0; j < sizeof(blkif_response_t); j++)
                    r[j] = (uint8_t)(rsp_seq * 13 + j * 5 + 3);
                k.rsp_prod_pvt++;
            }
            printf("rsp %lu\n", a);
        } else if (!strcmp(cmd, "pushrsp")) {
            RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(&k, notify);
            printf("notify-rsp %d\n", notify ? 1 : 0);
        } else if (!strcmp(cmd, "rcons")) {
            if (scanf("%lu", &a) != 1) return 2;
            for (unsigned long i = 0; i < a; i++) {
                blkif_response_t copy;
                RING_COPY_RESPONSE(&f, f.rsp_cons, &copy);
                f.rsp_cons++;
                printf("got-rsp %08x\n", fnv1a((uint8_t *)&copy, sizeof(copy)));
            }
        } else if (!strcmp(cmd, "fcreq")) {
            RING_FINAL_CHECK_FOR_REQUESTS(&k, more);
            printf("fc-req %d\n", more ? 1 : 0);
        } else if (!strcmp(cmd, "fcrsp")) {
            RING_FINAL_CHECK_FOR_RESPONSES(&f, more);
            printf("fc-rsp %d\n", more ? 1 : 0);
        } else if (!strcmp(cmd, "unc-req")) {
            printf("unc-req %u\n", (unsigned)RING_HAS_UNCONSUMED_REQUESTS(&k));
        } else if (!strcmp(cmd, "unc-rsp")) {
            printf("unc-rsp %u\n", (unsigned)RING_HAS_UNCONSUMED_RESPONSES(&f));
        } else if (!strcmp(cmd, "free")) {
            printf("free %u full %d\n", (unsigned)RING_FREE_REQUESTS(&f), RING_FULL(&f) ? 1 : 0);
        } else if (!strcmp(cmd, "dump")) {
            printf("dump ");
            for (size_t i = 0; i < bytes; i++) printf("%02x", page[i]);
            printf("\n");
        } else {
            fprintf(stderr, "unknown command %s\n", cmd);
            return 2;
        }
    }
    free(page);
    return 0;
}
