// The async I/O context: the tables shared with JS, registered memory regions, preallocated
// slots, validation of submissions, and delivery of completions in batches. The engines
// (aio_uring.cc, aio_threads.cc) only move bytes.
#include "aio.h"

#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace splitblk {
namespace aio {
namespace {

constexpr uint32_t kDepthMax = 4096;
constexpr uint32_t kIovecsMax = 1u << 20;
constexpr uint32_t kThreadsMax = 64;
constexpr uint32_t kRegionsMax = 1u << 16;
// Deliveries per wake-up: each round needs JS to have submitted (and failed) more from inside
// onComplete; past this, the rest waits for the next turn of the loop.
constexpr int kDeliverRoundsMax = 8;
constexpr double kOffsetLimit = 9007199254740992.0;  // 2^53
// Batches handed to JS straight after submit() (through take()) before the next batch must wait
// for a turn of the event loop: a consumer that always resubmits from onComplete, against
// I/O that always completes inline, would otherwise keep the loop from running anything else.
constexpr uint32_t kInlineDeliveriesMax = 16;
// Added to submit()'s return value when completions wait for take() (accepted <= 4096).
constexpr uint32_t kCompletionsReady = 1u << 16;

struct Region {
  uint8_t* base = nullptr;
  size_t length = 0;
  uint32_t pins = 0;  // iovecs in flight that point into it
  bool live = false;  // registered (not yet unregistered)
  Napi::Reference<Napi::ArrayBuffer> buffer;  // keeps the memory alive while used
};

struct Done {
  uint32_t slot;
  int32_t result;
};

struct DeferHolder {
  uv_async_t async;
  class Context* context;
};

// A zeroed block of table memory handed to JS as an external ArrayBuffer; freed by its finalizer.
Napi::ArrayBuffer NewTable(Napi::Env env, size_t bytes, uint8_t** data) {
  *data = static_cast<uint8_t*>(std::calloc(bytes, 1));
  if (*data == nullptr) throw Napi::Error::New(env, "out of memory for AIO tables");
  return Napi::ArrayBuffer::New(env, *data, bytes, [](Napi::Env, void* memory) { std::free(memory); });
}

class Context : public Napi::ObjectWrap<Context>, public Sink {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "AioContext",
                       {InstanceAccessor<&Context::EngineName>("engine"),
                        InstanceAccessor<&Context::Submissions>("submissions"),
                        InstanceAccessor<&Context::Iovecs>("iovecs"),
                        InstanceAccessor<&Context::Completions>("completions"),
                        InstanceMethod<&Context::RegisterRegion>("registerRegion"),
                        InstanceMethod<&Context::UnregisterRegion>("unregisterRegion"),
                        InstanceMethod<&Context::Submit>("submit"),
                        InstanceMethod<&Context::Take>("take"),
                        InstanceMethod<&Context::InFlight>("inFlight"),
                        InstanceMethod<&Context::Ref>("ref"),
                        InstanceMethod<&Context::Unref>("unref"),
                        InstanceMethod<&Context::Destroy>("destroy")});
  }

  // new AioContext(depthMax, iovecsMax, engine, threads, onComplete[, offloadMinBytes,
  //                offloadInFlightMinBytes])
  explicit Context(const Napi::CallbackInfo& info);
  ~Context() override { Teardown(); }

  void Complete(uint32_t slot, int32_t result) override;
  void Deliver() override;

 private:
  Napi::Value EngineName(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), engineName_); }
  Napi::Value Submissions(const Napi::CallbackInfo&) { return submissions_.Value(); }
  Napi::Value Iovecs(const Napi::CallbackInfo&) { return iovecs_.Value(); }
  Napi::Value Completions(const Napi::CallbackInfo&) { return completions_.Value(); }
  Napi::Value RegisterRegion(const Napi::CallbackInfo& info);
  Napi::Value UnregisterRegion(const Napi::CallbackInfo& info);
  Napi::Value Submit(const Napi::CallbackInfo& info);
  Napi::Value Take(const Napi::CallbackInfo& info);
  size_t Drain();
  Napi::Value InFlight(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), inFlight_); }
  Napi::Value Ref(const Napi::CallbackInfo& info);
  Napi::Value Unref(const Napi::CallbackInfo& info);
  Napi::Value Destroy(const Napi::CallbackInfo& info);

  int32_t Decode(const WireSqe& entry, Slot& slot);
  void ChooseOffload(Slot& slot);
  int32_t DecodeIovecs(const WireSqe& entry, Slot& slot);
  void Release(Slot& slot);
  void UnpinRegion(uint32_t id);
  void UpdateRef();
  void Teardown();

  napi_env env_;
  uint32_t depth_;
  uint32_t iovecsMax_;
  uint32_t iovPerSlot_;
  std::string engineName_;
  std::unique_ptr<Engine> engine_;
  Napi::Reference<Napi::ArrayBuffer> submissions_, iovecs_, completions_;
  uint8_t* sqTable_ = nullptr;
  uint8_t* iovTable_ = nullptr;
  uint8_t* cqTable_ = nullptr;
  std::vector<Slot> slots_;
  std::vector<struct iovec> iovStorage_;
  std::vector<uint32_t> regionStorage_;
  std::vector<uint32_t> freeSlots_;  // stack of free slot indexes
  std::vector<uint32_t> ready_;      // scratch: the decoded slots one submit() hands to the engine
  std::vector<Done> pending_;        // recorded by Complete(), handed out by Deliver()
  size_t pendingCount_ = 0;
  std::vector<Region> regions_;
  std::vector<uint32_t> freeRegions_;
  uint32_t inFlight_ = 0;
  // Offloading (ChooseOffload): 0 bytes = never.
  uint64_t offloadMinBytes_ = 0;
  uint64_t offloadInFlightMinBytes_ = 0;
  uint64_t transferBytesInFlight_ = 0;  // Readv/Writev bytes accepted and not yet released
  uint32_t inlineDeliveries_ = 0;  // take() batches since the loop last delivered
  bool userRef_ = true;
  bool refd_ = true;
  bool destroyed_ = false;
  DeferHolder* defer_ = nullptr;  // delivers Complete()s recorded outside a loop callback
  Napi::FunctionReference onComplete_;
  napi_async_context asyncContext_ = nullptr;
};

Context::Context(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Context>(info), env_(info.Env()) {
  Napi::Env env = info.Env();
  uint64_t depth = ToU64(info[0], "depthMax");
  uint64_t iovecs = ToU64(info[1], "iovecsMax");
  std::string engine = info[2].IsString() ? info[2].As<Napi::String>().Utf8Value() : "";
  uint64_t threads = ToU64(info[3], "threads");
  if (depth < 1 || depth > kDepthMax) throw Napi::RangeError::New(env, "depthMax must be in [1, 4096]");
  if (iovecs < 1 || iovecs > kIovecsMax) throw Napi::RangeError::New(env, "iovecsMax must be in [1, 2^20]");
  if (threads < 1 || threads > kThreadsMax) throw Napi::RangeError::New(env, "threads must be in [1, 64]");
  if (engine != "auto" && engine != "io_uring" && engine != "threads") {
    throw Napi::TypeError::New(env, "engine must be 'auto', 'io_uring' or 'threads'");
  }
  if (!info[4].IsFunction()) throw Napi::TypeError::New(env, "onComplete must be a function");
  // Absent (an older caller): nothing is offloaded, every transfer may complete inline.
  if (!info[5].IsUndefined()) offloadMinBytes_ = ToU64(info[5], "offloadMinBytes");
  if (!info[6].IsUndefined()) offloadInFlightMinBytes_ = ToU64(info[6], "offloadInFlightMinBytes");
  depth_ = static_cast<uint32_t>(depth);
  iovecsMax_ = static_cast<uint32_t>(iovecs);
  // preadv and IORING_OP_READV refuse more than IOV_MAX segments; nothing needs more per slot.
  iovPerSlot_ = std::min<uint32_t>(iovecsMax_, IOV_MAX);

  submissions_ = Napi::Persistent(NewTable(env, depth_ * sizeof(WireSqe), &sqTable_));
  iovecs_ = Napi::Persistent(NewTable(env, iovecsMax_ * sizeof(WireIov), &iovTable_));
  completions_ = Napi::Persistent(NewTable(env, depth_ * sizeof(WireCqe), &cqTable_));
  slots_.resize(depth_);
  iovStorage_.resize(static_cast<size_t>(depth_) * iovPerSlot_);
  regionStorage_.resize(static_cast<size_t>(depth_) * iovPerSlot_);
  freeSlots_.reserve(depth_);
  ready_.resize(depth_);
  pending_.resize(depth_);
  for (uint32_t i = 0; i < depth_; i++) {
    slots_[i].index = i;
    slots_[i].iov = &iovStorage_[static_cast<size_t>(i) * iovPerSlot_];
    slots_[i].regions = &regionStorage_[static_cast<size_t>(i) * iovPerSlot_];
    freeSlots_.push_back(depth_ - 1 - i);
  }

  uv_loop_t* loop = LoopOf(env);
  std::string uringError, threadsError;
  if (engine != "threads") engine_ = CreateUringEngine(loop, depth_, slots_.data(), this, &uringError);
  if (engine_ == nullptr && engine != "io_uring") {
    uint32_t workers = std::min<uint32_t>(static_cast<uint32_t>(threads), depth_);  // more could never be busy
    engine_ = CreateThreadsEngine(loop, depth_, workers, slots_.data(), this, &threadsError);
  }
  if (engine_ == nullptr) {
    Napi::Error error = CodeError(env, "SPLITBLK_ERR_AIO", "no AIO engine: " + uringError + threadsError);
    error.Set("uringError", Napi::String::New(env, uringError));
    throw error;
  }
  engineName_ = engine_->Name();

  defer_ = new DeferHolder{uv_async_t{}, this};
  defer_->async.data = defer_;
  uv_async_init(loop, &defer_->async, [](uv_async_t* async) {
    Context* context = static_cast<DeferHolder*>(async->data)->context;
    if (context != nullptr) context->Deliver();
  });
  onComplete_ = Napi::Persistent(info[4].As<Napi::Function>());
  napi_async_init(env, Value(), Napi::String::New(env, "splitblk.aio"), &asyncContext_);
  // Like a socket, an open context stays reachable from the loop until destroy().
  Napi::ObjectWrap<Context>::Ref();
}

Napi::Value Context::RegisterRegion(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (destroyed_) throw CodeError(env, "SPLITBLK_ERR_CLOSED", "the AIO context is closed");
  if (!info[0].IsArrayBuffer()) throw Napi::TypeError::New(env, "region must be an ArrayBuffer");
  Napi::ArrayBuffer buffer = info[0].As<Napi::ArrayBuffer>();
  uint32_t id;
  if (!freeRegions_.empty()) {
    id = freeRegions_.back();
    freeRegions_.pop_back();
  } else {
    if (regions_.size() >= kRegionsMax) throw CodeError(env, "SPLITBLK_ERR_AIO", "too many registered regions");
    id = static_cast<uint32_t>(regions_.size());
    regions_.emplace_back();
  }
  Region& region = regions_[id];
  region.base = static_cast<uint8_t*>(buffer.Data());
  region.length = buffer.ByteLength();
  region.pins = 0;
  region.live = true;
  region.buffer = Napi::Persistent(buffer);
  return Napi::Number::New(env, id);
}

Napi::Value Context::UnregisterRegion(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t id = info[0].ToNumber().Uint32Value();
  if (id >= regions_.size() || !regions_[id].live) throw CodeError(env, "SPLITBLK_ERR_AIO", "no such region");
  regions_[id].live = false;
  // In-flight I/O still points into it: keep the buffer alive until the last iovec completes.
  if (regions_[id].pins == 0) UnpinRegion(id);
  return env.Undefined();
}

// Called when a region is dead and unpinned: drop the buffer and recycle the id.
void Context::UnpinRegion(uint32_t id) {
  Region& region = regions_[id];
  region.buffer.Reset();
  region.base = nullptr;
  region.length = 0;
  freeRegions_.push_back(id);
}

Napi::Value Context::Submit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (destroyed_) throw CodeError(env, "SPLITBLK_ERR_CLOSED", "the AIO context is closed");
  uint64_t count = ToU64(info[0], "count");
  if (count > depth_) throw Napi::RangeError::New(env, "count exceeds depthMax");
  uint32_t accepted = 0;
  uint32_t valid = 0;
  for (; accepted < count && !freeSlots_.empty(); accepted++) {
    WireSqe entry;
    std::memcpy(&entry, sqTable_ + accepted * sizeof(WireSqe), sizeof entry);
    Slot& slot = slots_[freeSlots_.back()];
    freeSlots_.pop_back();
    inFlight_++;
    int32_t failure = Decode(entry, slot);
    if (failure != 0) {
      Complete(slot.index, failure);
    } else {
      ChooseOffload(slot);
      ready_[valid++] = slot.index;
    }
  }
  // Offloaded entries first: io_uring_enter takes the entries in order, so the workers start on
  // theirs before this thread runs the inline ones' copies. Nothing orders independent
  // operations of one batch anyway (an engine may complete them in any order).
  for (int pass = 0; pass < 2; pass++) {
    for (uint32_t i = 0; i < valid; i++) {
      Slot& slot = slots_[ready_[i]];
      if (slot.offload == (pass == 0)) engine_->Prepare(slot);
    }
  }
  engine_->Submit();
  bool inline_ = inlineDeliveries_ < kInlineDeliveriesMax;
  if (inline_) engine_->Reap();
  // Completions (inline I/O, refusals, engine failures) were only recorded, never delivered from
  // inside submit(): the JS wrapper takes them in a microtask when we flag them, or, past the
  // bound on inline batches, they wait for a turn of the loop.
  uint32_t ready = 0;
  if (pendingCount_ > 0) {
    if (inline_) {
      inlineDeliveries_++;
      ready = kCompletionsReady;
    } else {
      uv_async_send(&defer_->async);
    }
  }
  UpdateRef();
  return Napi::Number::New(env, accepted + ready);
}

// take(): moves the recorded completions into the completion table and frees their slots, for
// the JS wrapper to hand to onComplete; returns how many. Never calls JS.
Napi::Value Context::Take(const Napi::CallbackInfo& info) {
  if (destroyed_) return Napi::Number::New(info.Env(), 0);
  return Napi::Number::New(info.Env(), static_cast<double>(Drain()));
}

size_t Context::Drain() {
  size_t count = pendingCount_;
  for (size_t i = 0; i < count; i++) {
    Slot& slot = slots_[pending_[i].slot];
    WireCqe cqe{slot.userData, pending_[i].result};
    std::memcpy(cqTable_ + i * sizeof(WireCqe), &cqe, sizeof cqe);
    Release(slot);
  }
  pendingCount_ = 0;
  inFlight_ -= static_cast<uint32_t>(count);
  UpdateRef();
  return count;
}

// Copies one submission entry into a slot. Returns 0, or the -errno to complete it with.
int32_t Context::Decode(const WireSqe& entry, Slot& slot) {
  slot.userData = entry.userData;
  slot.fd = entry.fd;
  slot.iovCount = 0;
  slot.offload = false;
  slot.inFlightBytes = 0;
  if (entry.op > kOpMax || entry.flags != 0) return -EINVAL;
  slot.op = static_cast<Op>(entry.op);
  if (!(entry.offset >= 0 && entry.offset < kOffsetLimit && entry.length >= 0 && entry.length < kOffsetLimit)) {
    return -EINVAL;
  }
  slot.offset = static_cast<uint64_t>(entry.offset);
  slot.length = static_cast<uint64_t>(entry.length);
  if (slot.offset != entry.offset || slot.length != entry.length) return -EINVAL;
  switch (slot.op) {
    case Op::kReadv:
    case Op::kWritev:
      return DecodeIovecs(entry, slot);
    case Op::kPunchHole:
    case Op::kZeroRange:
      return slot.length == 0 ? -EINVAL : 0;
    case Op::kFdatasync:
    case Op::kFsync:
      return 0;
  }
  return -EINVAL;
}

// Translates (region, offset, length) iovecs into addresses, checking every one against its
// region first: a bad iovec fails the whole operation with -EFAULT before any memory is touched.
int32_t Context::DecodeIovecs(const WireSqe& entry, Slot& slot) {
  uint32_t count = entry.iovCount;
  if (count == 0 || count > iovPerSlot_ || entry.iovFirst > iovecsMax_ || count > iovecsMax_ - entry.iovFirst) {
    return -EINVAL;
  }
  const uint8_t* wire = iovTable_ + static_cast<size_t>(entry.iovFirst) * sizeof(WireIov);
  uint64_t bytes = 0;
  for (uint32_t i = 0; i < count; i++) {
    WireIov iov;
    std::memcpy(&iov, wire + i * sizeof(WireIov), sizeof iov);
    if (iov.region >= regions_.size()) return -EFAULT;
    const Region& region = regions_[iov.region];
    if (!region.live || iov.offset > region.length || iov.length > region.length - iov.offset) return -EFAULT;
    slot.iov[i].iov_base = region.base + iov.offset;
    slot.iov[i].iov_len = iov.length;
    slot.regions[i] = iov.region;
    bytes += iov.length;
  }
  for (uint32_t i = 0; i < count; i++) regions_[slot.regions[i]].pins++;
  slot.iovCount = count;
  slot.length = bytes;
  return 0;
}

// Whether a decoded transfer runs off the loop thread. A page-cache hit otherwise completes
// inline, its copy made by this thread, serialised with everything else the process does. A
// worker's copy runs beside it, but each offloaded transfer costs a hand-off to the worker and
// a wake-up of this loop for its completion, which only pays when the copy is large and when
// enough of them are queued to keep another CPU busy: a lone 64 KiB read is cheaper inline.
// So: at least offloadMinBytes itself, and at least offloadInFlightMinBytes of transfers in
// flight, itself included (docs/native.md has the measurements).
void Context::ChooseOffload(Slot& slot) {
  if (slot.op != Op::kReadv && slot.op != Op::kWritev) return;
  slot.inFlightBytes = slot.length;
  transferBytesInFlight_ += slot.length;
  slot.offload = offloadMinBytes_ != 0 && slot.length >= offloadMinBytes_ &&
                 transferBytesInFlight_ >= offloadInFlightMinBytes_;
}

void Context::Complete(uint32_t slot, int32_t result) {
  // Every in-flight slot completes exactly once, so pending_ (depth entries) cannot overflow.
  if (slot >= depth_ || pendingCount_ >= depth_) return;
  pending_[pendingCount_++] = Done{slot, result};
}

void Context::Release(Slot& slot) {
  for (uint32_t i = 0; i < slot.iovCount; i++) {
    uint32_t id = slot.regions[i];
    if (--regions_[id].pins == 0 && !regions_[id].live && !regions_[id].buffer.IsEmpty()) UnpinRegion(id);
  }
  slot.iovCount = 0;
  transferBytesInFlight_ -= slot.inFlightBytes;
  slot.inFlightBytes = 0;
  freeSlots_.push_back(slot.index);
}

void Context::Deliver() {
  Napi::Env env(env_);
  // The loop is turning: submit() may hand out completions inline again.
  inlineDeliveries_ = 0;
  for (int round = 0; round < kDeliverRoundsMax && pendingCount_ > 0 && !destroyed_; round++) {
    size_t count = Drain();
    // The slots are free again, so onComplete may submit at once. It may also destroy us:
    // nothing below touches the engine, and the loop re-checks destroyed_.
    Napi::HandleScope scope(env);
    CallFromLoop(env, onComplete_, asyncContext_, {Napi::Number::New(env, static_cast<double>(count))});
  }
  if (pendingCount_ > 0 && !destroyed_) uv_async_send(&defer_->async);
}

// In-flight I/O always keeps the loop alive (its completion must be delivered); an idle context
// only when ref()ed.
void Context::UpdateRef() {
  bool want = userRef_ || inFlight_ > 0;
  if (want == refd_ || destroyed_) return;
  refd_ = want;
  engine_->SetRef(want);
  if (want) {
    uv_ref(reinterpret_cast<uv_handle_t*>(&defer_->async));
  } else {
    uv_unref(reinterpret_cast<uv_handle_t*>(&defer_->async));
  }
}

Napi::Value Context::Ref(const Napi::CallbackInfo& info) {
  userRef_ = true;
  UpdateRef();
  return info.Env().Undefined();
}

Napi::Value Context::Unref(const Napi::CallbackInfo& info) {
  userRef_ = false;
  UpdateRef();
  return info.Env().Undefined();
}

Napi::Value Context::Destroy(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (destroyed_) return env.Undefined();
  if (inFlight_ != 0) throw CodeError(env, "SPLITBLK_ERR_AIO", "destroy() with I/O in flight");
  Teardown();
  Napi::ObjectWrap<Context>::Unref();
  return env.Undefined();
}

void Context::Teardown() {
  if (destroyed_) return;
  destroyed_ = true;
  if (engine_ != nullptr) engine_->Close();
  engine_.reset();
  if (defer_ != nullptr) {
    defer_->context = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(&defer_->async),
             [](uv_handle_t* handle) { delete static_cast<DeferHolder*>(handle->data); });
    defer_ = nullptr;
  }
  for (Region& region : regions_) region.buffer.Reset();
  // Detach the tables so JS cannot write into memory that is about to be freed; their
  // finalizers free it.
  for (auto* table : {&submissions_, &iovecs_, &completions_}) {
    if (!table->IsEmpty()) {
      Napi::HandleScope scope{Napi::Env(env_)};
      table->Value().Detach();
      table->Reset();
    }
  }
  onComplete_.Reset();
  if (asyncContext_ != nullptr) napi_async_destroy(env_, asyncContext_);
  asyncContext_ = nullptr;
}

Napi::Value IoUringAvailable(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), UringAvailable());
}

}  // namespace
}  // namespace aio

void RegisterAio(Napi::Env env, Napi::Object exports) {
  exports.Set("AioContext", aio::Context::Define(env));
  exports.Set("ioUringAvailable", Napi::Function::New(env, aio::IoUringAvailable, "ioUringAvailable"));
  // The C sizes of the wire structs, for src/native to check against api.ts when it loads us.
  Napi::Object layout = Napi::Object::New(env);
  layout.Set("sqeSize", Napi::Number::New(env, sizeof(aio::WireSqe)));
  layout.Set("iovSize", Napi::Number::New(env, sizeof(aio::WireIov)));
  layout.Set("cqeSize", Napi::Number::New(env, sizeof(aio::WireCqe)));
  layout.Set("pageSize", Napi::Number::New(env, static_cast<double>(sysconf(_SC_PAGESIZE))));
  exports.Set("layout", layout);
}

}  // namespace splitblk
