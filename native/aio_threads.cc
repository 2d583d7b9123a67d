// The thread-pool engine: the fallback where io_uring is unavailable (io_uring_disabled,
// seccomp, old kernels), and selectable on its own. A few pthreads run preadv/pwritev/
// fdatasync/fsync/fallocate; finished slots are queued and delivered to the Node loop in
// batches through one uv_async_t (uv_async_send coalesces wake-ups by itself).
//
// A buffered read is first tried on the loop thread with preadv2(RWF_NOWAIT), as io_uring does
// inside io_uring_enter: one served whole from the page cache completes at once, without two
// thread hand-offs; anything else (a miss, a partial hit, O_DIRECT, or a read the context
// chose to offload, Slot::offload) goes to the workers.
#include "aio.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <signal.h>
#include <sys/uio.h>
#include <unistd.h>

#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace splitblk {
namespace aio {
namespace {

class ThreadsEngine;

struct AsyncHolder {
  uv_async_t async;
  ThreadsEngine* engine;
};

// A fixed-capacity FIFO of slot indexes; capacity is the context depth, which bounds it.
class SlotQueue {
 public:
  explicit SlotQueue(uint32_t capacity) : items_(capacity) {}
  bool Empty() const { return count_ == 0; }
  void Push(uint32_t slot) {
    items_[(head_ + count_) % items_.size()] = slot;
    count_++;
  }
  uint32_t Pop() {
    uint32_t slot = items_[head_];
    head_ = (head_ + 1) % items_.size();
    count_--;
    return slot;
  }

 private:
  std::vector<uint32_t> items_;
  size_t head_ = 0;
  size_t count_ = 0;
};

struct Done {
  uint32_t slot;
  int32_t result;
};

class ThreadsEngine : public Engine {
 public:
  ThreadsEngine(uint32_t depth, const Slot* slots, Sink* sink)
      : slots_(slots), sink_(sink), prepared_(depth), queue_(depth), done_(depth), delivering_(depth) {}
  ~ThreadsEngine() override { Close(); }

  bool Open(uv_loop_t* loop, uint32_t threads, std::string* error);
  const char* Name() const override { return "threads"; }
  void Prepare(const Slot& slot) override { prepared_[preparedCount_++] = slot.index; }
  void Submit() override;
  void SetRef(bool ref) override;
  void Close() override;

 private:
  static void OnAsync(uv_async_t* async);
  static bool TryCachedRead(const Slot& slot, int32_t* result);
  void Work();
  static int32_t Execute(const Slot& slot);

  const Slot* slots_;
  Sink* sink_;
  AsyncHolder* holder_ = nullptr;
  std::vector<uint32_t> prepared_;  // loop thread only
  size_t preparedCount_ = 0;
  std::mutex mutex_;  // guards queue_, done_, doneCount_, stopping_
  std::condition_variable work_;
  SlotQueue queue_;
  std::vector<Done> done_;
  size_t doneCount_ = 0;
  bool stopping_ = false;
  std::vector<Done> delivering_;  // loop thread only
  std::vector<std::thread> workers_;
};

bool ThreadsEngine::Open(uv_loop_t* loop, uint32_t threads, std::string* error) {
  holder_ = new AsyncHolder{uv_async_t{}, this};
  holder_->async.data = holder_;
  int rc = uv_async_init(loop, &holder_->async, OnAsync);
  if (rc != 0) {
    delete holder_;
    holder_ = nullptr;
    return *error = std::string("uv_async_init: ") + uv_strerror(rc), false;
  }
  // Workers take no signals: block everything while they are created (they inherit the mask).
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  try {
    for (uint32_t i = 0; i < threads; i++) workers_.emplace_back([this] { Work(); });
  } catch (const std::system_error& e) {
    *error = std::string("starting I/O threads: ") + e.what();
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return error->empty();
}

void ThreadsEngine::Submit() {
  if (preparedCount_ == 0) return;
  // Page-cache hits complete here (recorded only: Complete never calls JS); the rest is queued.
  size_t queued = 0;
  for (size_t i = 0; i < preparedCount_; i++) {
    int32_t result;
    if (TryCachedRead(slots_[prepared_[i]], &result)) {
      sink_->Complete(prepared_[i], result);
    } else {
      prepared_[queued++] = prepared_[i];
    }
  }
  preparedCount_ = 0;
  if (queued == 0) return;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    // The slots were filled before this lock; a worker takes them after it (the mutex orders it).
    for (size_t i = 0; i < queued; i++) queue_.Push(prepared_[i]);
  }
  if (queued == 1) {
    work_.notify_one();
  } else {
    work_.notify_all();
  }
}

// A read that the page cache serves whole, without blocking. O_DIRECT is excluded: with
// RWF_NOWAIT a synchronous direct read still waits for the device.
bool ThreadsEngine::TryCachedRead(const Slot& slot, int32_t* result) {
#ifdef RWF_NOWAIT
  if (slot.op != Op::kReadv || slot.offload) return false;
  int flags = fcntl(slot.fd, F_GETFL);
  if (flags < 0 || (flags & O_DIRECT) != 0) return false;
  const size_t want = slot.length;
  ssize_t rc = preadv2(slot.fd, slot.iov, static_cast<int>(slot.iovCount), static_cast<off_t>(slot.offset), RWF_NOWAIT);
  // A short count may be a partial hit rather than the end of the file: the worker reads it all
  // again (reads are idempotent) and reports what a plain preadv returns.
  if (rc < 0 || static_cast<size_t>(rc) != want) return false;
  *result = static_cast<int32_t>(rc);
  return true;
#else
  (void)slot;
  (void)result;
  return false;
#endif
}

void ThreadsEngine::Work() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    work_.wait(lock, [this] { return stopping_ || !queue_.Empty(); });
    if (queue_.Empty()) return;  // stopping, and nothing left to run
    uint32_t slot = queue_.Pop();
    lock.unlock();
    int32_t result = Execute(slots_[slot]);
    lock.lock();
    done_[doneCount_++] = Done{slot, result};
    // holder_ stays valid until Close() has joined every worker.
    uv_async_send(&holder_->async);
  }
}

int32_t ThreadsEngine::Execute(const Slot& slot) {
  const off_t offset = static_cast<off_t>(slot.offset);
  const off_t length = static_cast<off_t>(slot.length);
  const int iovCount = static_cast<int>(slot.iovCount);
  ssize_t rc;
  do {
    switch (slot.op) {
      case Op::kReadv:
        rc = preadv(slot.fd, slot.iov, iovCount, offset);
        break;
      case Op::kWritev:
        rc = pwritev(slot.fd, slot.iov, iovCount, offset);
        break;
      case Op::kFdatasync:
        rc = fdatasync(slot.fd);
        break;
      case Op::kFsync:
        rc = fsync(slot.fd);
        break;
      case Op::kPunchHole:
        rc = fallocate(slot.fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, length);
        break;
      case Op::kZeroRange:
        rc = fallocate(slot.fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, offset, length);
        break;
      default:
        rc = -1;
        errno = EINVAL;
    }
  } while (rc < 0 && errno == EINTR);
  return rc < 0 ? -errno : static_cast<int32_t>(rc);
}

void ThreadsEngine::OnAsync(uv_async_t* async) {
  auto* holder = static_cast<AsyncHolder*>(async->data);
  ThreadsEngine* engine = holder->engine;
  if (engine == nullptr) return;
  size_t count;
  {
    std::lock_guard<std::mutex> lock(engine->mutex_);
    count = engine->doneCount_;
    std::copy(engine->done_.begin(), engine->done_.begin() + count, engine->delivering_.begin());
    engine->doneCount_ = 0;
  }
  for (size_t i = 0; i < count; i++) engine->sink_->Complete(engine->delivering_[i].slot, engine->delivering_[i].result);
  engine->sink_->Deliver();  // last: JS may close the context (and this engine) from in here
}

void ThreadsEngine::SetRef(bool ref) {
  if (holder_ == nullptr) return;
  if (ref) {
    uv_ref(reinterpret_cast<uv_handle_t*>(&holder_->async));
  } else {
    uv_unref(reinterpret_cast<uv_handle_t*>(&holder_->async));
  }
}

void ThreadsEngine::Close() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  work_.notify_all();
  for (std::thread& worker : workers_) worker.join();
  workers_.clear();
  if (holder_ != nullptr) {
    holder_->engine = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(&holder_->async),
             [](uv_handle_t* handle) { delete static_cast<AsyncHolder*>(handle->data); });
    holder_ = nullptr;
  }
}

}  // namespace

std::unique_ptr<Engine> CreateThreadsEngine(uv_loop_t* loop, uint32_t depth, uint32_t threads, const Slot* slots,
                                            Sink* sink, std::string* error) {
  auto engine = std::make_unique<ThreadsEngine>(depth, slots, sink);
  if (!engine->Open(loop, threads, error)) return nullptr;
  return engine;
}

}  // namespace aio
}  // namespace splitblk
