#define _GNU_SOURCE
/*
 * The C reference for the ring benchmark: a blkfront and a null blkback, two processes
 * sharing a ring built with the real <xen/io/ring.h> macros over <xen/io/blkif.h>'s types,
 * notifying each other the way splitblk's event channels do (one byte into a pipe, the
 * receiver asleep in poll()). The backend answers every request BLKIF_RSP_OKAY at once.
 *
 * usage: ring-ref ORDER QUEUE_DEPTH SECONDS
 * prints one JSON object: requests, seconds, rps, notifications per request, qd1 latencies.
 */
#include "xen-barriers.h"
#include <xen/io/blkif.h>
#include <xen/io/ring.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>

#define PAGE_SIZE 4096
#define LATENCY_SAMPLES_MAX 2000000

struct counters {
  volatile uint64_t back_notifications; /* backend -> frontend kicks */
  volatile int stop;
};

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void kick(int fd) {
  char b = 1;
  /* A full pipe means the peer is already pending: nothing more to say. */
  if (write(fd, &b, 1) < 0 && errno != EAGAIN) perror("write");
}

static void wait_for(int fd) {
  struct pollfd p = { .fd = fd, .events = POLLIN };
  char buf[256];
  while (poll(&p, 1, 100) == 0) {}
  while (read(fd, buf, sizeof buf) > 0) {}
}

static void backend(blkif_sring_t *sring, size_t size, int rx, int tx, struct counters *c) {
  blkif_back_ring_t ring;
  BACK_RING_INIT(&ring, sring, size);
  for (;;) {
    int more;
    do {
      RING_IDX rp = ring.sring->req_prod;
      xen_rmb(); /* read req_prod before the requests it publishes */
      while (ring.req_cons != rp) {
        blkif_request_t req = *RING_GET_REQUEST(&ring, ring.req_cons);
        ring.req_cons++;
        blkif_response_t *rsp = RING_GET_RESPONSE(&ring, ring.rsp_prod_pvt);
        rsp->id = req.id;
        rsp->operation = req.operation;
        rsp->status = BLKIF_RSP_OKAY;
        ring.rsp_prod_pvt++;
      }
      int notify;
      RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(&ring, notify);
      if (notify) {
        c->back_notifications++;
        kick(tx);
      }
      RING_FINAL_CHECK_FOR_REQUESTS(&ring, more);
    } while (more);
    if (c->stop) return;
    wait_for(rx);
  }
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: ring-ref ORDER QUEUE_DEPTH SECONDS\n");
    return 2;
  }
  int order = atoi(argv[1]), qd = atoi(argv[2]);
  double seconds = atof(argv[3]);
  size_t size = (size_t)PAGE_SIZE << order;
  void *mem = mmap(NULL, size + PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) return 1;
  blkif_sring_t *sring = mem;
  struct counters *c = (struct counters *)((char *)mem + size);
  SHARED_RING_INIT(sring);
  int to_back[2], to_front[2];
  if (pipe2(to_back, O_NONBLOCK) || pipe2(to_front, O_NONBLOCK)) return 1;
  pid_t pid = fork();
  if (pid == 0) {
    backend(sring, size, to_back[0], to_front[1], c);
    _exit(0);
  }
  blkif_front_ring_t ring;
  FRONT_RING_INIT(&ring, sring, size);
  unsigned slots = RING_SIZE(&ring);
  if (qd > (int)slots) qd = (int)slots;
  uint64_t *latency = qd == 1 ? malloc(sizeof(uint64_t) * LATENCY_SAMPLES_MAX) : NULL;
  uint64_t *issued = calloc(slots, sizeof(uint64_t));
  uint64_t done = 0, samples = 0, front_notifications = 0;
  int in_flight = 0;
  uint64_t start = now_ns(), end = start + (uint64_t)(seconds * 1e9);
  for (;;) {
    uint64_t t = now_ns();
    if (t >= end) break;
    while (in_flight < qd) {
      blkif_request_t *req = RING_GET_REQUEST(&ring, ring.req_prod_pvt);
      memset(req, 0, sizeof *req);
      req->operation = BLKIF_OP_READ;
      req->id = ring.req_prod_pvt % slots;
      issued[req->id] = t;
      ring.req_prod_pvt++;
      in_flight++;
    }
    int notify;
    RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&ring, notify);
    if (notify) {
      front_notifications++;
      kick(to_back[1]);
    }
    int more;
    do {
      RING_IDX rp = ring.sring->rsp_prod;
      xen_rmb(); /* read rsp_prod before the responses it publishes */
      uint64_t t2 = now_ns();
      while (ring.rsp_cons != rp) {
        blkif_response_t *rsp = RING_GET_RESPONSE(&ring, ring.rsp_cons);
        if (latency && samples < LATENCY_SAMPLES_MAX) latency[samples++] = t2 - issued[rsp->id];
        ring.rsp_cons++;
        in_flight--;
        done++;
      }
      RING_FINAL_CHECK_FOR_RESPONSES(&ring, more);
    } while (more);
    if (in_flight == qd) wait_for(to_front[0]);
  }
  double elapsed = (now_ns() - start) / 1e9;
  c->stop = 1;
  kick(to_back[1]);
  waitpid(pid, NULL, 0);
  double p50 = 0, p99 = 0;
  if (samples > 0) {
    qsort(latency, samples, sizeof(uint64_t), cmp_u64);
    p50 = latency[samples / 2] / 1e3;
    p99 = latency[(uint64_t)(samples * 0.99)] / 1e3;
  }
  printf("{\"order\":%d,\"qd\":%d,\"slots\":%u,\"requests\":%llu,\"seconds\":%.3f,\"rps\":%.0f,"
         "\"notifications-per-request\":%.4f,\"latency-p50-us\":%.2f,\"latency-p99-us\":%.2f}\n",
         order, qd, slots, (unsigned long long)done, elapsed, done / elapsed,
         (double)(front_notifications + c->back_notifications) / (done ? done : 1), p50, p99);
  return 0;
}
