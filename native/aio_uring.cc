// The io_uring engine, on raw system calls (no liburing, so that Node's toolchain alone builds
// it). Completions reach the Node loop through uv_poll on the ring's own descriptor, which is
// readable while the CQ holds entries (io_uring_poll): no thread of our own, and, unlike an
// eventfd registered with the ring, nothing to read back after each harvest. A harvest that
// empties the CQ makes the descriptor unreadable again by itself (libuv's epoll watch is
// level-triggered), which spares a read(2) per submitted batch.
//
// Ring protocol (see io_uring(7)): we own the SQ tail and the CQ head, the kernel owns the SQ
// head and the CQ tail. Without SQPOLL the kernel reads the SQ only inside io_uring_enter on
// our thread, but it writes CQEs from any context, so the barriers below matter.
#include "aio.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/io_uring.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

// Older linux-libc-dev headers predate it; the kernel reports EINVAL and we set up without it.
#ifndef IORING_SETUP_SUBMIT_ALL
#define IORING_SETUP_SUBMIT_ALL (1U << 7)
#endif

namespace splitblk {
namespace aio {
namespace {

// io_uring_enter calls that submit nothing (EINTR) before the unsubmitted entries are failed.
constexpr int kEnterStallsMax = 8;
// Rounds of CQ harvesting per wake-up (a round takes everything present; more can arrive).
constexpr int kHarvestRoundsMax = 4;

int Setup(unsigned entries, io_uring_params* params) {
  return static_cast<int>(syscall(__NR_io_uring_setup, entries, params));
}

int Enter(int fd, unsigned toSubmit) {
  return static_cast<int>(syscall(__NR_io_uring_enter, fd, toSubmit, 0, 0, nullptr, 0));
}

int Register(int fd, unsigned opcode, void* arg, unsigned count) {
  return static_cast<int>(syscall(__NR_io_uring_register, fd, opcode, arg, count));
}

// Every opcode we issue must be supported (IORING_REGISTER_PROBE, Linux 5.6, like FALLOCATE).
// `plainRw` reports the optional IORING_OP_READ/WRITE (also 5.6), used for one-iovec transfers.
bool SupportsOurOps(int ringFd, bool* plainRw = nullptr) {
  constexpr unsigned kProbeOps = 64;
  alignas(io_uring_probe) unsigned char storage[sizeof(io_uring_probe) + kProbeOps * sizeof(io_uring_probe_op)] = {};
  auto* probe = reinterpret_cast<io_uring_probe*>(storage);
  if (Register(ringFd, IORING_REGISTER_PROBE, probe, kProbeOps) != 0) return false;
  auto supported = [probe](unsigned op) {
    return op <= probe->last_op && (probe->ops[op].flags & IO_URING_OP_SUPPORTED) != 0;
  };
  for (unsigned op : {IORING_OP_READV, IORING_OP_WRITEV, IORING_OP_FSYNC, IORING_OP_FALLOCATE}) {
    if (!supported(op)) return false;
  }
  if (plainRw != nullptr) *plainRw = supported(IORING_OP_READ) && supported(IORING_OP_WRITE);
  return true;
}

class UringEngine;

// The uv_poll_t outlives the engine until uv_close's callback, which also closes the ring's
// descriptor: libuv takes the watch off epoll by number, so the number must stay ours until then.
struct PollHolder {
  uv_poll_t poll;
  UringEngine* engine;
  int ringFd;
};

// Drops the ring now - closing it cancels whatever is still in flight (only at environment
// teardown) - while the descriptor number stays ours, on /dev/null, until ClosePollHolder.
void ReleaseRingFile(int fd) {
  int devNull = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (devNull < 0) return;  // Out of descriptors: the ring goes when ClosePollHolder closes it.
  dup3(devNull, fd, O_CLOEXEC);
  close(devNull);
}

void ClosePollHolder(uv_handle_t* handle) {
  auto* holder = static_cast<PollHolder*>(handle->data);
  if (holder->ringFd >= 0) close(holder->ringFd);
  delete holder;
}

class UringEngine : public Engine {
 public:
  explicit UringEngine(Sink* sink) : sink_(sink) {}
  ~UringEngine() override { Close(); }

  bool Open(uv_loop_t* loop, uint32_t depth, std::string* error);
  const char* Name() const override { return "io_uring"; }
  void Prepare(const Slot& slot) override;
  void Submit() override;
  void Reap() override;
  void SetRef(bool ref) override;
  void Close() override;

 private:
  static void OnRingReadable(uv_poll_t* poll, int status, int events);
  void Harvest();
  void FailUnsubmitted(int err);
  void WaitOutstanding();

  Sink* sink_;
  int ringFd_ = -1;
  PollHolder* holder_ = nullptr;
  void* sqRing_ = MAP_FAILED;
  size_t sqRingBytes_ = 0;
  void* cqRing_ = MAP_FAILED;
  size_t cqRingBytes_ = 0;
  io_uring_sqe* sqes_ = static_cast<io_uring_sqe*>(MAP_FAILED);
  size_t sqesBytes_ = 0;
  unsigned* sqHead_ = nullptr;
  unsigned* sqTail_ = nullptr;
  unsigned* sqArray_ = nullptr;
  unsigned sqMask_ = 0;
  unsigned sqEntries_ = 0;
  unsigned* cqHead_ = nullptr;
  unsigned* cqTail_ = nullptr;
  unsigned cqMask_ = 0;
  io_uring_cqe* cqes_ = nullptr;
  unsigned sqTailLocal_ = 0;  // our next SQ tail, published by Submit()
  uint32_t outstanding_ = 0;  // placed in the SQ and not yet harvested
  bool plainRw_ = false;      // IORING_OP_READ/WRITE supported
};

bool UringEngine::Open(uv_loop_t* loop, uint32_t depth, std::string* error) {
  io_uring_params params;
  std::memset(&params, 0, sizeof params);
  // At most `depth` operations are in flight and the CQ gets twice the SQ's entries, so the CQ
  // can never overflow.
  // SUBMIT_ALL (5.18): an entry that fails early still lets the rest of the batch in.
  params.flags = IORING_SETUP_SUBMIT_ALL;
  ringFd_ = Setup(depth, &params);
  if (ringFd_ < 0 && errno == EINVAL) {
    std::memset(&params, 0, sizeof params);
    ringFd_ = Setup(depth, &params);
  }
  if (ringFd_ < 0) return *error = std::string("io_uring_setup: ") + std::strerror(errno), false;
  if (!SupportsOurOps(ringFd_, &plainRw_)) return *error = "io_uring lacks READV/WRITEV/FSYNC/FALLOCATE", false;
  sqRingBytes_ = params.sq_off.array + params.sq_entries * sizeof(unsigned);
  cqRingBytes_ = params.cq_off.cqes + params.cq_entries * sizeof(io_uring_cqe);
  bool single = params.features & IORING_FEAT_SINGLE_MMAP;
  if (single) sqRingBytes_ = cqRingBytes_ = std::max(sqRingBytes_, cqRingBytes_);
  sqRing_ = mmap(nullptr, sqRingBytes_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ringFd_, IORING_OFF_SQ_RING);
  if (sqRing_ == MAP_FAILED) return *error = "mmap SQ ring failed", false;
  if (single) {
    cqRing_ = sqRing_;
  } else {
    cqRing_ = mmap(nullptr, cqRingBytes_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ringFd_, IORING_OFF_CQ_RING);
    if (cqRing_ == MAP_FAILED) return *error = "mmap CQ ring failed", false;
  }
  sqesBytes_ = params.sq_entries * sizeof(io_uring_sqe);
  void* sqes = mmap(nullptr, sqesBytes_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ringFd_, IORING_OFF_SQES);
  if (sqes == MAP_FAILED) return *error = "mmap SQEs failed", false;
  sqes_ = static_cast<io_uring_sqe*>(sqes);
  char* sq = static_cast<char*>(sqRing_);
  char* cq = static_cast<char*>(cqRing_);
  sqHead_ = reinterpret_cast<unsigned*>(sq + params.sq_off.head);
  sqTail_ = reinterpret_cast<unsigned*>(sq + params.sq_off.tail);
  sqMask_ = *reinterpret_cast<unsigned*>(sq + params.sq_off.ring_mask);
  sqEntries_ = params.sq_entries;
  sqArray_ = reinterpret_cast<unsigned*>(sq + params.sq_off.array);
  cqHead_ = reinterpret_cast<unsigned*>(cq + params.cq_off.head);
  cqTail_ = reinterpret_cast<unsigned*>(cq + params.cq_off.tail);
  cqMask_ = *reinterpret_cast<unsigned*>(cq + params.cq_off.ring_mask);
  cqes_ = reinterpret_cast<io_uring_cqe*>(cq + params.cq_off.cqes);
  sqTailLocal_ = *sqTail_;

  holder_ = new PollHolder{uv_poll_t{}, this, -1};
  holder_->poll.data = holder_;
  int rc = uv_poll_init(loop, &holder_->poll, ringFd_);
  if (rc != 0) {
    delete holder_;
    holder_ = nullptr;
    return *error = std::string("uv_poll_init: ") + uv_strerror(rc), false;
  }
  // Watched from here on, so the holder closes the number (Close() leaves it to the callback).
  holder_->ringFd = ringFd_;
  rc = uv_poll_start(&holder_->poll, UV_READABLE, OnRingReadable);
  if (rc != 0) {
    *error = std::string("uv_poll_start: ") + uv_strerror(rc);
    Close();
    return false;
  }
  return true;
}

void UringEngine::Prepare(const Slot& slot) {
  // The kernel consumed everything we published at the last Submit(), and at most `depth`
  // (<= sq_entries) slots exist, so there is always room; check anyway rather than overwrite.
  // Load-acquire of the SQ head: the kernel's reads of the entries before it are done before we
  // reuse them.
  unsigned head = __atomic_load_n(sqHead_, __ATOMIC_ACQUIRE);
  if (sqTailLocal_ - head >= sqEntries_) {
    sink_->Complete(slot.index, -EBUSY);
    return;
  }
  unsigned index = sqTailLocal_ & sqMask_;
  io_uring_sqe* sqe = &sqes_[index];
  std::memset(sqe, 0, sizeof *sqe);
  sqe->fd = slot.fd;
  sqe->user_data = slot.index;
  sqe->off = slot.offset;
  switch (slot.op) {
    case Op::kReadv:
    case Op::kWritev:
      if (slot.iovCount == 1 && plainRw_) {
        // One buffer (a 4 KiB request, a merged run of one page): READ/WRITE take it directly
        // and skip importing an iovec array.
        sqe->opcode = slot.op == Op::kReadv ? IORING_OP_READ : IORING_OP_WRITE;
        sqe->addr = reinterpret_cast<uint64_t>(slot.iov[0].iov_base);
        sqe->len = static_cast<uint32_t>(slot.iov[0].iov_len);
      } else {
        sqe->opcode = slot.op == Op::kReadv ? IORING_OP_READV : IORING_OP_WRITEV;
        sqe->addr = reinterpret_cast<uint64_t>(slot.iov);
        sqe->len = slot.iovCount;
      }
      // Straight to io-wq: the copy runs on a kernel worker, beside this thread and beside the
      // other offloaded transfers, instead of inline in the next io_uring_enter.
      if (slot.offload) sqe->flags |= IOSQE_ASYNC;
      break;
    case Op::kFdatasync:
    case Op::kFsync:
      sqe->opcode = IORING_OP_FSYNC;
      sqe->fsync_flags = slot.op == Op::kFdatasync ? IORING_FSYNC_DATASYNC : 0;
      break;
    case Op::kPunchHole:
    case Op::kZeroRange:
      // IORING_OP_FALLOCATE takes the length in `addr` and the mode in `len`.
      sqe->opcode = IORING_OP_FALLOCATE;
      sqe->addr = slot.length;
      sqe->len = slot.op == Op::kPunchHole ? (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE)
                                           : (FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE);
      break;
  }
  sqArray_[index] = index;
  sqTailLocal_++;
  outstanding_++;
}

void UringEngine::Submit() {
  // Store-release of the SQ tail: the SQE and sqArray writes above are visible before the kernel
  // can observe the new tail.
  __atomic_store_n(sqTail_, sqTailLocal_, __ATOMIC_RELEASE);
  // Each call that makes progress shrinks what is pending, so only calls without progress
  // (EINTR, or a kernel that stopped at a failed entry without SUBMIT_ALL) need a bound.
  for (int stalls = 0; stalls < kEnterStallsMax;) {
    // Load-acquire of the SQ head: how far the kernel has consumed (it advances it in enter).
    unsigned pending = sqTailLocal_ - __atomic_load_n(sqHead_, __ATOMIC_ACQUIRE);
    if (pending == 0) return;
    int submitted = Enter(ringFd_, pending);
    if (submitted > 0) continue;
    if (submitted < 0 && errno != EINTR) {
      FailUnsubmitted(errno);
      return;
    }
    stalls++;
  }
  FailUnsubmitted(EAGAIN);
}

// Takes back the entries the kernel did not consume and fails their slots. Safe without SQPOLL:
// the kernel reads the SQ only inside io_uring_enter, on this thread.
void UringEngine::FailUnsubmitted(int err) {
  unsigned head = __atomic_load_n(sqHead_, __ATOMIC_ACQUIRE);
  for (unsigned at = head; at != sqTailLocal_; at++) {
    sink_->Complete(static_cast<uint32_t>(sqes_[sqArray_[at & sqMask_]].user_data), -err);
    outstanding_--;
  }
  sqTailLocal_ = head;
  // Store-release of the rolled-back tail (nothing new to publish, but keep one discipline).
  __atomic_store_n(sqTail_, sqTailLocal_, __ATOMIC_RELEASE);
}

void UringEngine::Harvest() {
  for (int round = 0; round < kHarvestRoundsMax; round++) {
    unsigned head = *cqHead_;  // only we write the CQ head
    // Load-acquire of the CQ tail: the kernel's CQE writes are visible before we read the CQEs.
    unsigned tail = __atomic_load_n(cqTail_, __ATOMIC_ACQUIRE);
    if (head == tail) return;
    for (; head != tail; head++) {
      const io_uring_cqe& cqe = cqes_[head & cqMask_];
      sink_->Complete(static_cast<uint32_t>(cqe.user_data), cqe.res);
      outstanding_--;
    }
    // Store-release of the CQ head: our reads of the CQEs finish before the kernel may reuse
    // those entries.
    __atomic_store_n(cqHead_, head, __ATOMIC_RELEASE);
  }
}

void UringEngine::Reap() {
  // Nothing to reset: once the harvest empties the CQ, the ring's descriptor polls unreadable
  // again, so the loop does not wake for the completions taken here.
  if (holder_ != nullptr) Harvest();
}

void UringEngine::OnRingReadable(uv_poll_t* poll, int status, int) {
  auto* holder = static_cast<PollHolder*>(poll->data);
  if (status < 0 || holder->engine == nullptr) return;
  // Whatever the harvest leaves (past its round bound) keeps the descriptor readable, and the
  // level-triggered watch reports it again on the next turn; a CQE posted after the harvest
  // makes it readable anew.
  UringEngine* engine = holder->engine;
  engine->Harvest();
  engine->sink_->Deliver();  // last: JS may close the context (and this engine) from in here
}

void UringEngine::SetRef(bool ref) {
  if (holder_ == nullptr) return;
  if (ref) {
    uv_ref(reinterpret_cast<uv_handle_t*>(&holder_->poll));
  } else {
    uv_unref(reinterpret_cast<uv_handle_t*>(&holder_->poll));
  }
}

// Only at environment teardown (a terminated Worker) can operations still be in flight here.
// Wait for them, so the kernel is done with memory that JS is about to free; their results
// are dropped, as nobody is left to receive them.
void UringEngine::WaitOutstanding() {
  for (int stalls = 0; outstanding_ > 0 && stalls < kEnterStallsMax;) {
    int rc = static_cast<int>(syscall(__NR_io_uring_enter, ringFd_, 0, outstanding_, IORING_ENTER_GETEVENTS, nullptr, 0));
    if (rc < 0 && errno != EINTR) return;
    unsigned head = *cqHead_;
    // Load-acquire of the CQ tail, store-release of the CQ head: as in Harvest().
    unsigned tail = __atomic_load_n(cqTail_, __ATOMIC_ACQUIRE);
    if (head == tail) stalls++;
    outstanding_ -= std::min<uint32_t>(outstanding_, tail - head);
    __atomic_store_n(cqHead_, tail, __ATOMIC_RELEASE);
  }
}

void UringEngine::Close() {
  if (ringFd_ >= 0 && outstanding_ > 0) WaitOutstanding();
  if (holder_ != nullptr) {
    uv_poll_stop(&holder_->poll);
    holder_->engine = nullptr;
    // The descriptor number is closed in the close callback, once libuv no longer polls it.
    if (holder_->ringFd == ringFd_) {
      ReleaseRingFile(ringFd_);
      ringFd_ = -1;
    }
    uv_close(reinterpret_cast<uv_handle_t*>(&holder_->poll), ClosePollHolder);
    holder_ = nullptr;
  }
  if (sqes_ != MAP_FAILED) munmap(sqes_, sqesBytes_);
  if (cqRing_ != MAP_FAILED && cqRing_ != sqRing_) munmap(cqRing_, cqRingBytes_);
  if (sqRing_ != MAP_FAILED) munmap(sqRing_, sqRingBytes_);
  sqes_ = static_cast<io_uring_sqe*>(MAP_FAILED);
  cqRing_ = sqRing_ = MAP_FAILED;
  // Not watched (the engine failed to open before its poll started): close it here.
  if (ringFd_ >= 0) close(ringFd_);
  ringFd_ = -1;
}

}  // namespace

std::unique_ptr<Engine> CreateUringEngine(uv_loop_t* loop, uint32_t depth, const Slot* slots, Sink* sink,
                                          std::string* error) {
  (void)slots;  // io_uring reads each slot's iovecs through the SQE's pointer
  auto engine = std::make_unique<UringEngine>(sink);
  if (!engine->Open(loop, depth, error)) return nullptr;
  return engine;
}

bool UringAvailable() {
  io_uring_params params;
  std::memset(&params, 0, sizeof params);
  int fd = Setup(2, &params);
  if (fd < 0) return false;
  bool ok = SupportsOurOps(fd);
  close(fd);
  return ok;
}

}  // namespace aio
}  // namespace splitblk
