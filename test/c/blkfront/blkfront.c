/*
 * blkfront: a C guest's block frontend for splitblk (see blkfront.h).
 *
 * usage: blkfront RUNDIR DOMID DEVID verify|bench [--ring-order N] [--queues N]
 *                 [--indirect-segments N] [--no-persistent] [--qd N] [--ops N] [--seconds S]
 *                 [--bs BYTES] [--seq] [--write] [--bytes N] [--warmup S] [--seed N]
 *                 [--span SECTORS]
 *
 * verify: --ops random reads and writes (random offsets, lengths and in-page offsets; writes
 *         stamp every sector with its number and a generation), every read checked, then the
 *         whole span read back and checked. Requests in flight never overlap.
 * bench:  READs (or --write WRITEs) of --bs bytes (default 4096, one segment) at random (or
 *         --seq) offsets, --qd in flight, for --seconds or until --bytes were issued, after
 *         --warmup seconds of the same load that are not counted. A sequential run starts at
 *         sector 0 after the warm-up too, so --write --seq --bytes N writes the first N bytes.
 *         --span limits the offsets to the first SECTORS sectors (verify: the sectors tested).
 * Prints one JSON object on stdout: the negotiated features, counts, latency, the
 * verification result and the close handshake. Exit codes: 0 done (and verified), 1 a
 * failure (connect, I/O error, leaked grant), 2 usage, 3 verification failed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blkfront.h"

#define LATENCY_SAMPLES_MAX 4000000u
#define SPAN_SECTORS_MAX (1ull << 22) /* 2 GiB of generations tracked at most */
#define PLAN_ATTEMPTS_MAX 8
#define GEN_UNKNOWN UINT32_MAX        /* a write failed: the sector's content is unknown */

static uint64_t xorshift(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* ---- verify ----------------------------------------------------------------------------- */

struct verify {
    uint64_t rng;
    uint64_t span;            /* sectors under test */
    uint32_t *gen;            /* [span] generation last written, 0 = never */
    uint32_t *ctx_gen;        /* [nctx] generation a write in flight carries */
    uint32_t next_gen;
    unsigned ops_left;
    uint64_t readback_next;   /* next sector of the final read-back */
    uint64_t sectors_checked, mismatches;
    uint64_t bad_sector, bad_found_sector;
    uint32_t bad_expected, bad_found;
};

static bool overlaps_in_flight(struct bf *bf, uint64_t sector, uint32_t sectors)
{
    for (unsigned i = 0; i < bf->nctx; i++) {
        struct bf_ctx *c = &bf->ctx[i];
        if (c->busy && sector < c->sector + c->sectors && c->sector < sector + sectors) return true;
    }
    return false;
}

static bool verify_plan_random(struct bf *bf, struct bf_ctx *ctx, struct verify *v)
{
    uint32_t first = (uint32_t)(xorshift(&v->rng) % BF_SECTORS_PER_PAGE);
    uint64_t max = (uint64_t)bf->segs_max * BF_SECTORS_PER_PAGE - first;
    if (max > v->span) max = v->span;
    for (int attempt = 0; attempt < PLAN_ATTEMPTS_MAX; attempt++) {
        /* Half the requests are small (up to a page), the rest up to the largest request. */
        uint64_t limit = (xorshift(&v->rng) & 1) ? max : (max < BF_SECTORS_PER_PAGE ? max : BF_SECTORS_PER_PAGE);
        uint32_t sectors = (uint32_t)(1 + xorshift(&v->rng) % limit);
        uint64_t sector = xorshift(&v->rng) % (v->span - sectors + 1);
        if (overlaps_in_flight(bf, sector, sectors)) continue;
        ctx->op = (xorshift(&v->rng) & 1) ? BLKIF_OP_WRITE : BLKIF_OP_READ;
        ctx->sector = sector;
        ctx->sectors = sectors;
        ctx->first_sect = first;
        return true;
    }
    return false;
}

static bool verify_plan(struct bf *bf, struct bf_ctx *ctx, void *arg)
{
    struct verify *v = arg;
    if (v->ops_left > 0) {
        if (!verify_plan_random(bf, ctx, v)) return false;
        v->ops_left--;
    } else if (v->readback_next < v->span) {
        uint64_t left = v->span - v->readback_next;
        uint64_t max = (uint64_t)bf->segs_max * BF_SECTORS_PER_PAGE;
        ctx->op = BLKIF_OP_READ;
        ctx->sector = v->readback_next;
        ctx->sectors = (uint32_t)(left < max ? left : max);
        ctx->first_sect = 0;
        if (overlaps_in_flight(bf, ctx->sector, ctx->sectors)) return false;
        v->readback_next += ctx->sectors;
    } else {
        return false;
    }
    uint8_t *data = (uint8_t *)bf_ctx_data(bf, ctx) + (size_t)ctx->first_sect * BF_SECTOR_SIZE;
    if (ctx->op == BLKIF_OP_WRITE) {
        uint32_t gen = ++v->next_gen;
        v->ctx_gen[ctx->index] = gen;
        for (uint32_t i = 0; i < ctx->sectors; i++) bf_pattern_fill(data + (size_t)i * BF_SECTOR_SIZE, ctx->sector + i, gen);
    } else {
        memset(data, 0xa5, (size_t)ctx->sectors * BF_SECTOR_SIZE); /* stale bytes must not pass */
    }
    return true;
}

static void verify_complete(struct bf *bf, struct bf_ctx *ctx, int16_t status, void *arg)
{
    struct verify *v = arg;
    if (ctx->op == BLKIF_OP_WRITE) {
        uint32_t gen = status == BLKIF_RSP_OKAY ? v->ctx_gen[ctx->index] : GEN_UNKNOWN;
        for (uint32_t i = 0; i < ctx->sectors; i++) v->gen[ctx->sector + i] = gen;
        return;
    }
    if (status != BLKIF_RSP_OKAY) return;
    const uint8_t *data = (const uint8_t *)bf_ctx_data(bf, ctx) + (size_t)ctx->first_sect * BF_SECTOR_SIZE;
    for (uint32_t i = 0; i < ctx->sectors; i++) {
        uint64_t sector = ctx->sector + i;
        if (v->gen[sector] == GEN_UNKNOWN) continue;
        uint64_t found_sector;
        uint32_t found_gen;
        v->sectors_checked++;
        if (bf_pattern_check(data + (size_t)i * BF_SECTOR_SIZE, sector, v->gen[sector], &found_sector, &found_gen) == 0)
            continue;
        if (v->mismatches++ == 0) {
            v->bad_sector = sector;
            v->bad_expected = v->gen[sector];
            v->bad_found_sector = found_sector;
            v->bad_found = found_gen;
        }
    }
}

static bool verify_done(struct bf *bf, void *arg)
{
    (void)bf;
    struct verify *v = arg;
    return v->ops_left == 0 && v->readback_next >= v->span;
}

/* The random phase, drained, then the read-back: two runs of the event loop. */
static int run_verify(struct bf *bf, struct verify *v, uint64_t span_opt)
{
    v->span = bf->feat.sectors < span_opt ? bf->feat.sectors : span_opt;
    v->gen = calloc(v->span, sizeof *v->gen);
    v->ctx_gen = calloc(bf->nctx, sizeof *v->ctx_gen);
    if (v->gen == NULL || v->ctx_gen == NULL) return -1;
    v->ops_left = bf->opt.ops;
    uint64_t readback = v->readback_next;
    v->readback_next = v->span; /* phase 1: random requests only */
    struct bf_driver d = { verify_plan, verify_complete, verify_done, v };
    if (bf_run(bf, &d) < 0) return -1;
    v->readback_next = readback;
    return bf_run(bf, &d);
}

/* ---- bench ------------------------------------------------------------------------------ */

struct bench {
    uint64_t rng;
    uint64_t end_ns;
    uint64_t bytes_left;      /* UINT64_MAX: no byte limit */
    uint64_t cursor;
    uint64_t blocks;          /* bs-sized blocks on the disk */
    uint32_t sectors;         /* per request */
};

static bool bench_plan(struct bf *bf, struct bf_ctx *ctx, void *arg)
{
    (void)bf;
    struct bench *b = arg;
    if (b->bytes_left < (uint64_t)b->sectors * BF_SECTOR_SIZE) return false;
    uint64_t block = bf->opt.sequential ? b->cursor++ % b->blocks : xorshift(&b->rng) % b->blocks;
    ctx->op = bf->opt.write ? BLKIF_OP_WRITE : BLKIF_OP_READ;
    ctx->sector = block * b->sectors;
    ctx->sectors = b->sectors;
    ctx->first_sect = 0;
    if (b->bytes_left != UINT64_MAX) b->bytes_left -= (uint64_t)b->sectors * BF_SECTOR_SIZE;
    return true;
}

static void bench_complete(struct bf *bf, struct bf_ctx *ctx, int16_t status, void *arg)
{
    (void)bf, (void)ctx, (void)status, (void)arg;
}

static bool bench_done(struct bf *bf, void *arg)
{
    (void)bf;
    struct bench *b = arg;
    return b->bytes_left < (uint64_t)b->sectors * BF_SECTOR_SIZE || bf_now_ns() >= b->end_ns;
}

/* The warm-up (not counted: the statistics are reset after it), then the measurement. */
static int run_bench(struct bf *bf, struct bench *b, uint64_t *start)
{
    struct bf_driver d = { bench_plan, bench_complete, bench_done, b };
    if (bf->opt.warmup > 0) {
        b->bytes_left = UINT64_MAX;
        b->end_ns = bf_now_ns() + (uint64_t)(bf->opt.warmup * 1e9);
        if (bf_run(bf, &d) < 0) return -1;
        uint64_t *samples = bf->stats.latency_ns, max = bf->stats.latency_max;
        memset(&bf->stats, 0, sizeof bf->stats);
        bf->stats.latency_ns = samples;
        bf->stats.latency_max = max;
        b->cursor = 0;
    }
    b->bytes_left = bf->opt.bytes > 0 ? bf->opt.bytes : UINT64_MAX;
    *start = bf_now_ns();
    b->end_ns = *start + (uint64_t)(bf->opt.seconds * 1e9);
    return bf_run(bf, &d);
}

/* ---- report ----------------------------------------------------------------------------- */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static double percentile_us(struct bf_stats *st, double p)
{
    if (st->latency_samples == 0) return 0;
    uint64_t i = (uint64_t)(st->latency_samples * p);
    if (i >= st->latency_samples) i = st->latency_samples - 1;
    return st->latency_ns[i] / 1e3;
}

static void print_features(struct bf *bf)
{
    struct bf_features *f = &bf->feat;
    printf("\"features\":{\"protocol\":\"%s\",\"ring-page-order\":%u,\"ring-slots\":%u,\"queues\":%u,"
           "\"indirect-segments\":%u,\"persistent\":%s,\"flush\":%s,\"max-segments\":%u},"
           "\"backend\":{\"max-ring-page-order\":%u,\"multi-queue-max-queues\":%u,"
           "\"feature-max-indirect-segments\":%u,\"feature-persistent\":%s},"
           "\"disk\":{\"sectors\":%llu,\"sector-size\":%u,\"info\":%u},",
           XEN_IO_PROTO_ABI_X86_64, f->ring_order, f->ring_slots, f->queues, f->indirect_segments,
           f->persistent ? "true" : "false", f->flush ? "true" : "false", bf->segs_max, f->backend_max_ring_order,
           f->backend_max_queues, f->backend_max_indirect, f->backend_persistent ? "true" : "false",
           (unsigned long long)f->sectors, f->sector_size, f->info);
}

static void print_report(struct bf *bf, const char *mode, double seconds, struct verify *v, const char *error)
{
    struct bf_stats *st = &bf->stats;
    qsort(st->latency_ns, st->latency_samples, sizeof(uint64_t), cmp_u64);
    double reqs = st->requests ? (double)st->requests : 1;
    printf("{\"mode\":\"%s\",\"seed\":%llu,\"qd\":%u,", mode, (unsigned long long)bf->opt.seed, bf->qd);
    print_features(bf);
    printf("\"requests\":%llu,\"reads\":%llu,\"writes\":%llu,\"errors\":%llu,\"bogus-responses\":%llu,"
           "\"seconds\":%.6f,\"rps\":%.1f,\"mb-per-s\":%.3f,\"kicks\":%llu,\"events\":%llu,"
           "\"notifications-per-request\":%.4f,\"latency-p50-us\":%.2f,\"latency-p99-us\":%.2f,",
           (unsigned long long)st->requests, (unsigned long long)st->reads, (unsigned long long)st->writes,
           (unsigned long long)st->errors, (unsigned long long)st->bogus, seconds,
           seconds > 0 ? st->requests / seconds : 0, seconds > 0 ? st->bytes / seconds / 1e6 : 0,
           (unsigned long long)st->kicks, (unsigned long long)st->events, (st->kicks + st->events) / reqs,
           percentile_us(st, 0.5), percentile_us(st, 0.99));
    printf("\"queue-requests\":[");
    for (unsigned q = 0; q < bf->feat.queues; q++)
        printf("%s%llu", q ? "," : "", (unsigned long long)bf->queues[q].requests);
    printf("],");
    if (st->errors > 0)
        printf("\"first-error\":{\"status\":%d,\"sector\":%llu},", st->first_error_status,
               (unsigned long long)st->first_error_sector);
    if (v != NULL) {
        printf("\"verify\":{\"ok\":%s,\"span-sectors\":%llu,\"sectors-checked\":%llu,\"mismatches\":%llu",
               v->mismatches == 0 && v->sectors_checked > 0 ? "true" : "false", (unsigned long long)v->span,
               (unsigned long long)v->sectors_checked, (unsigned long long)v->mismatches);
        if (v->mismatches > 0)
            printf(",\"first-mismatch\":{\"sector\":%llu,\"expected-generation\":%u,\"found-sector\":%lld,"
                   "\"found-generation\":%u}",
                   (unsigned long long)v->bad_sector, v->bad_expected,
                   v->bad_found_sector == UINT64_MAX ? -1ll : (long long)v->bad_found_sector, v->bad_found);
        printf("},");
    } else {
        printf("\"verify\":null,");
    }
    printf("\"close\":{\"backend-state\":%d,\"leaked-grants\":%llu},\"error\":", bf->backend_state_at_close,
           (unsigned long long)st->leaked_grants);
    if (error == NULL) printf("null}\n");
    else {
        putchar('"');
        for (const char *p = error; *p; p++) putchar(*p == '"' || *p == '\\' ? '\'' : *p);
        printf("\"}\n");
    }
    fflush(stdout);
}

/* ---- main ------------------------------------------------------------------------------- */

static int usage(void)
{
    fprintf(stderr, "usage: blkfront RUNDIR DOMID DEVID verify|bench [--ring-order N] [--queues N]\n"
                    "       [--indirect-segments N] [--no-persistent] [--qd N] [--ops N] [--seconds S]\n"
                    "       [--bs BYTES] [--seq] [--write] [--bytes N] [--warmup S] [--seed N] [--span SECTORS]\n");
    return 2;
}

static int parse_options(int argc, char **argv, struct bf_options *o, uint64_t *span)
{
    static const struct option longopts[] = {
        { "ring-order", required_argument, 0, 'r' }, { "queues", required_argument, 0, 'q' },
        { "indirect-segments", required_argument, 0, 'i' }, { "no-persistent", no_argument, 0, 'P' },
        { "qd", required_argument, 0, 'd' }, { "ops", required_argument, 0, 'o' },
        { "seconds", required_argument, 0, 't' }, { "bs", required_argument, 0, 'b' },
        { "seq", no_argument, 0, 'S' }, { "seed", required_argument, 0, 's' },
        { "span", required_argument, 0, 'n' }, { "write", no_argument, 0, 'W' },
        { "bytes", required_argument, 0, 'B' }, { "warmup", required_argument, 0, 'w' }, { 0, 0, 0, 0 },
    };
    int c;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'r': o->ring_order = (unsigned)atoi(optarg); break;
        case 'q': o->queues = (unsigned)atoi(optarg); break;
        case 'i': o->indirect_segments = (unsigned)atoi(optarg); break;
        case 'P': o->persistent = false; break;
        case 'd': o->qd = (unsigned)atoi(optarg); break;
        case 'o': o->ops = (unsigned)atoi(optarg); break;
        case 't': o->seconds = atof(optarg); break;
        case 'b': o->bs = (unsigned)atoi(optarg); break;
        case 'S': o->sequential = true; break;
        case 's': o->seed = strtoull(optarg, NULL, 10); break;
        case 'n': *span = strtoull(optarg, NULL, 10); break;
        case 'W': o->write = true; break;
        case 'B': o->bytes = strtoull(optarg, NULL, 10); break;
        case 'w': o->warmup = atof(optarg); break;
        default: return -1;
        }
    }
    if (o->ring_order > BF_RING_ORDER_MAX || o->queues < 1 || o->queues > BF_QUEUES_MAX || o->qd < 1 ||
        o->qd > BF_INFLIGHT_MAX || o->indirect_segments > BF_INDIRECT_SEGS_MAX || o->bs < BF_PAGE_SIZE ||
        o->bs % BF_PAGE_SIZE != 0 || o->bs / BF_PAGE_SIZE > BF_INDIRECT_SEGS_MAX || o->seconds <= 0 || *span == 0 || o->warmup < 0)
        return -1;
    if (o->seed == 0) o->seed = bf_now_ns() | 1;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 5) return usage();
    const char *rundir = argv[1], *mode = argv[4];
    uint32_t domid = (uint32_t)atoi(argv[2]);
    unsigned devid = (unsigned)atoi(argv[3]);
    bool verify_mode = strcmp(mode, "verify") == 0;
    if (!verify_mode && strcmp(mode, "bench") != 0) return usage();
    struct bf_options o = { .ring_order = 0, .queues = 1, .indirect_segments = 32, .persistent = true, .qd = 32,
                            .seconds = 2, .ops = 2000, .bs = BF_PAGE_SIZE, .sequential = false, .seed = 0 };
    uint64_t span = SPAN_SECTORS_MAX;
    optind = 5;
    if (parse_options(argc, argv, &o, &span) < 0) return usage();
    if (!verify_mode && o.bs / BF_PAGE_SIZE > o.indirect_segments && o.bs > BLKIF_MAX_SEGMENTS_PER_REQUEST * BF_PAGE_SIZE)
        o.indirect_segments = o.bs / BF_PAGE_SIZE; /* a bench request is one request, never split */

    static struct sbg_guest guest;
    static struct bf bf;
    bf.g = &guest;
    bf.opt = o;
    if (sbg_open(&guest, rundir, domid) < 0) {
        fprintf(stderr, "blkfront: cannot open domain %u in %s: %s\n", domid, rundir, strerror(errno));
        return 1;
    }
    bf.stats.latency_max = LATENCY_SAMPLES_MAX;
    bf.stats.latency_ns = malloc(LATENCY_SAMPLES_MAX * sizeof(uint64_t));
    if (bf_connect(&bf, devid) < 0) {
        fprintf(stderr, "blkfront: connect: %s\n", bf_error());
        bf_disconnect(&bf);
        sbg_close(&guest);
        return 1;
    }
    static struct verify v;
    v.rng = o.seed;
    struct bench b = { .rng = o.seed, .sectors = o.bs / BF_SECTOR_SIZE };
    b.blocks = (bf.feat.sectors < span ? bf.feat.sectors : span) / b.sectors;
    int rc = 0;
    uint64_t start = bf_now_ns();
    if (verify_mode) {
        rc = run_verify(&bf, &v, span);
    } else if (bf.segs_max * BF_PAGE_SIZE < o.bs || b.blocks == 0) {
        bf_set_error("a %u-byte request does not fit (%u segments negotiated, %llu sectors)", o.bs, bf.segs_max,
                     (unsigned long long)bf.feat.sectors);
        rc = -1;
    } else {
        rc = run_bench(&bf, &b, &start);
    }
    double seconds = (bf_now_ns() - start) / 1e9;
    bool failed = rc < 0;
    const char *error = failed ? bf_error() : NULL;
    static char error_copy[512];
    if (error != NULL) {
        snprintf(error_copy, sizeof error_copy, "%s", error);
        error = error_copy;
    }
    bf_disconnect(&bf);
    print_report(&bf, mode, seconds, verify_mode ? &v : NULL, error);
    sbg_close(&guest);
    if (failed || bf.stats.errors > 0 || bf.stats.bogus > 0 || bf.stats.leaked_grants > 0) return 1;
    if (verify_mode && (v.mismatches > 0 || v.sectors_checked == 0)) return 3;
    return 0;
}
