// The async I/O context shared by native/aio.cc (tables, regions, slots, delivery to JS) and its
// two engines, native/aio_uring.cc and native/aio_threads.cc.
#pragma once

#include "common.h"

#include <sys/uio.h>

#include <cstddef>
#include <memory>
#include <string>

namespace splitblk {
namespace aio {

// Operation codes; the values are AioOp of src/native/api.ts.
enum class Op : uint8_t {
  kReadv = 0,
  kWritev = 1,
  kFdatasync = 2,
  kFsync = 3,
  kPunchHole = 4,
  kZeroRange = 5,
};
constexpr uint8_t kOpMax = 5;

// The wire layouts of src/native/api.ts (AIO_SQE_SIZE, AIO_IOV_SIZE, AIO_CQE_SIZE), little-endian.
struct WireSqe {
  uint8_t op;          // 0  AioOp
  uint8_t flags;       // 1  reserved, 0
  uint16_t iovCount;   // 2  Readv/Writev: iovec entries
  int32_t fd;          // 4
  uint32_t userData;   // 8  echoed in the completion
  uint32_t iovFirst;   // 12 first entry in the iovec table
  double offset;       // 16 bytes, an integer < 2^53
  double length;       // 24 PunchHole/ZeroRange: bytes
};
static_assert(sizeof(WireSqe) == 32, "AIO_SQE_SIZE");
static_assert(offsetof(WireSqe, fd) == 4 && offsetof(WireSqe, userData) == 8, "AioSqe layout");
static_assert(offsetof(WireSqe, iovFirst) == 12 && offsetof(WireSqe, offset) == 16, "AioSqe layout");
static_assert(offsetof(WireSqe, length) == 24, "AioSqe layout");

struct WireIov {
  uint32_t region;    // 0  id from registerRegion
  uint32_t offset;    // 4  within the region
  uint32_t length;    // 8
  uint32_t reserved;  // 12
};
static_assert(sizeof(WireIov) == 16, "AIO_IOV_SIZE");

struct WireCqe {
  uint32_t userData;  // 0
  int32_t result;     // 4  bytes transferred, or -errno
};
static_assert(sizeof(WireCqe) == 8, "AIO_CQE_SIZE");

// One in-flight operation. depthMax of these are allocated up front, each with its own iovec
// array, so that submitting allocates nothing. An engine reads a slot between Prepare() and the
// slot's completion; nothing else writes it meanwhile.
struct Slot {
  uint32_t index;
  Op op;
  int fd;
  uint32_t userData;
  uint64_t offset;
  uint64_t length;  // PunchHole/ZeroRange: the range; Readv/Writev: the iovecs' total bytes
  uint32_t iovCount;
  struct iovec* iov;  // iovPerSlot entries
  uint32_t* regions;  // the region of each iovec, pinned while in flight
  // Readv/Writev: never run this transfer on the loop thread. io_uring sends it to its io-wq
  // workers (IOSQE_ASYNC) instead of completing a page-cache hit inside io_uring_enter; the
  // thread-pool engine gives it to a worker without its inline page-cache attempt. The
  // context decides (native/aio.cc, Context::ChooseOffload); engines only obey.
  bool offload;
  uint64_t inFlightBytes;  // what this slot added to the context's transfer bytes in flight
};

// Where engines report completions. Complete() only records (it never calls JS, so it may be
// called from inside submit()); Deliver() hands what was recorded to JS and must be the last
// thing an engine's loop callback does, because JS may destroy the engine from inside it.
class Sink {
 public:
  virtual ~Sink() = default;
  virtual void Complete(uint32_t slot, int32_t result) = 0;
  virtual void Deliver() = 0;
};

class Engine {
 public:
  virtual ~Engine() = default;
  virtual const char* Name() const = 0;
  // Queue a validated slot; it reaches the kernel or the workers at the next Submit().
  virtual void Prepare(const Slot& slot) = 0;
  // Start everything prepared. Failures are reported through Sink::Complete.
  virtual void Submit() = 0;
  // Report (through Sink::Complete, never Deliver) operations that have already finished,
  // without waiting: io_uring completes reads that hit the page cache inside io_uring_enter, so
  // taking them right after Submit() spares a turn of the event loop. Default: nothing.
  virtual void Reap() {}
  // Whether the engine's loop handle keeps the event loop alive.
  virtual void SetRef(bool ref) = 0;
  // Release the loop handle and every resource. Only called with nothing in flight (or at
  // environment teardown, when in-flight operations are abandoned).
  virtual void Close() = 0;
};

std::unique_ptr<Engine> CreateUringEngine(uv_loop_t* loop, uint32_t depth, const Slot* slots, Sink* sink,
                                          std::string* error);
std::unique_ptr<Engine> CreateThreadsEngine(uv_loop_t* loop, uint32_t depth, uint32_t threads, const Slot* slots,
                                            Sink* sink, std::string* error);
// Whether io_uring_setup works here and the ring supports every opcode we use.
bool UringAvailable();

}  // namespace aio
}  // namespace splitblk
