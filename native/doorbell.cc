// Doorbells: cross-process wake-ups through a FIFO per doorbell.
//
// The listener opens the FIFO O_RDWR | O_NONBLOCK, so it is its own writer and never sees EOF,
// and watches it with a uv_poll_t on the Node loop: no thread, no busy loop. When the FIFO
// becomes readable it is drained and the JS callback runs once, however many rings arrived, so
// rings coalesce like an event channel's pending bit. A ringer writes one byte with O_NONBLOCK;
// a full FIFO (EAGAIN) means a ring is already pending, which is just as good.
//
// SIGPIPE: writing to a FIFO whose reader is gone raises SIGPIPE, and FIFOs have no
// MSG_NOSIGNAL. Node sets SIGPIPE to SIG_IGN at start-up, so write() just fails with EPIPE. If
// an embedder left SIGPIPE on its default action, Ring() blocks it for the calling thread around
// the write and consumes a SIGPIPE it raised, so the process-wide disposition is never touched.
#include "common.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

namespace splitblk {
namespace {

// Bytes read per drain step, and the bound on steps per wake-up (128 KiB, twice the default
// pipe capacity). If a ringer outpaces that, uv_poll simply fires again.
constexpr size_t kDrainChunkBytes = 4096;
constexpr int kDrainStepsMax = 32;

// What the loop owns. It outlives the JS object until uv_close's callback frees it.
struct Listener {
  uv_poll_t poll;
  int fd = -1;
  napi_env env = nullptr;
  Napi::FunctionReference onRing;
  napi_async_context context = nullptr;
};

// uv_close's callback: libuv has let go of the descriptor, so it may be closed now.
void FreeListener(uv_handle_t* handle) {
  Listener* listener = static_cast<Listener*>(handle->data);
  if (listener->fd >= 0) close(listener->fd);
  delete listener;
}

void Drain(int fd) {
  char chunk[kDrainChunkBytes];
  for (int step = 0; step < kDrainStepsMax; step++) {
    ssize_t n = read(fd, chunk, sizeof chunk);
    // A pipe read returns less than asked only when it took everything there was, so a short
    // read means drained: skip the extra read(2) that would only say EAGAIN. A byte written
    // after our read makes the FIFO readable again and uv_poll reports it on the next turn.
    if (n > 0 && static_cast<size_t>(n) < sizeof chunk) break;
    if (n > 0) continue;
    if (n < 0 && errno == EINTR) continue;
    break;  // EAGAIN: drained. (0 cannot happen: we hold a write end ourselves.)
  }
}

void OnReadable(uv_poll_t* poll, int status, int) {
  Listener* listener = static_cast<Listener*>(poll->data);
  if (status < 0) {
    // The descriptor is unusable; stop rather than spin on the same error.
    uv_poll_stop(poll);
    return;
  }
  Drain(listener->fd);
  CallFromLoop(Napi::Env(listener->env), listener->onRing, listener->context, {});
}

class DoorbellListener : public Napi::ObjectWrap<DoorbellListener> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "DoorbellListener",
                       {InstanceMethod<&DoorbellListener::Ref>("ref"),
                        InstanceMethod<&DoorbellListener::Unref>("unref"),
                        InstanceMethod<&DoorbellListener::Close>("close")});
  }

  // new DoorbellListener(path, onRing)
  explicit DoorbellListener(const Napi::CallbackInfo& info) : Napi::ObjectWrap<DoorbellListener>(info) {
    Napi::Env env = info.Env();
    if (!info[0].IsString() || !info[1].IsFunction()) throw Napi::TypeError::New(env, "(path, onRing)");
    std::string path = info[0].As<Napi::String>();
    if (mkfifo(path.c_str(), 0600) != 0 && errno != EEXIST) throw ErrnoError(env, "mkfifo", errno, path);
    int fd = open(path.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) throw ErrnoError(env, "open", errno, path);
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISFIFO(st.st_mode)) {
      close(fd);
      throw CodeError(env, "SPLITBLK_ERR_NO_DOORBELL", path + " exists and is not a FIFO");
    }
    Listener* listener = new Listener();
    listener->fd = fd;
    listener->env = env;
    listener->poll.data = listener;
    listener->onRing = Napi::Persistent(info[1].As<Napi::Function>());
    if (napi_async_init(env, Value(), Napi::String::New(env, "splitblk.doorbell"), &listener->context) != napi_ok) {
      listener->context = nullptr;
      FreeListener(reinterpret_cast<uv_handle_t*>(&listener->poll));
      throw Napi::Error::New(env, "napi_async_init failed");
    }
    int rc = uv_poll_init(LoopOf(env), &listener->poll, fd);
    if (rc != 0) {
      napi_async_destroy(env, listener->context);
      FreeListener(reinterpret_cast<uv_handle_t*>(&listener->poll));  // never registered with libuv
      throw ErrnoError(env, "uv_poll_init", -rc, path);
    }
    rc = uv_poll_start(&listener->poll, UV_READABLE, OnReadable);
    if (rc != 0) {
      napi_async_destroy(env, listener->context);
      uv_close(reinterpret_cast<uv_handle_t*>(&listener->poll), FreeListener);
      throw ErrnoError(env, "uv_poll_start", -rc, path);
    }
    listener_ = listener;
    // A listening doorbell keeps working when JS drops the object, like a listening server:
    // hold the wrapper strongly until close().
    Napi::ObjectWrap<DoorbellListener>::Ref();
  }

  ~DoorbellListener() override { Shutdown(); }

 private:
  Napi::Value Ref(const Napi::CallbackInfo& info) {
    if (listener_ != nullptr) uv_ref(reinterpret_cast<uv_handle_t*>(&listener_->poll));
    return info.Env().Undefined();
  }

  Napi::Value Unref(const Napi::CallbackInfo& info) {
    if (listener_ != nullptr) uv_unref(reinterpret_cast<uv_handle_t*>(&listener_->poll));
    return info.Env().Undefined();
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    if (listener_ != nullptr) {
      Shutdown();
      Napi::ObjectWrap<DoorbellListener>::Unref();
    }
    return info.Env().Undefined();
  }

  // Stops watching at once. The JS-side resources go now, while the environment is surely alive
  // (this also runs from the finalizer at environment teardown); the uv handle goes later.
  void Shutdown() {
    if (listener_ == nullptr) return;
    Listener* listener = listener_;
    listener_ = nullptr;
    uv_poll_stop(&listener->poll);
    listener->onRing.Reset();
    if (listener->context != nullptr) napi_async_destroy(listener->env, listener->context);
    listener->context = nullptr;
    ReleaseFifo(listener->fd);
    uv_close(reinterpret_cast<uv_handle_t*>(&listener->poll), FreeListener);
  }

  // Drops our read end of the FIFO now, so that ringers see EPIPE and connect() sees ENXIO as
  // soon as close() returns. The descriptor number itself must stay ours until uv_close has run
  // (libuv removes it from epoll by number; were it reused meanwhile, it would remove the wrong
  // file), so /dev/null is put in its place rather than closing it.
  static void ReleaseFifo(int fd) {
    int devNull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (devNull < 0) return;  // Out of descriptors: the FIFO is released by FreeListener instead.
    dup3(devNull, fd, O_CLOEXEC);
    close(devNull);
  }

  Listener* listener_ = nullptr;
};

bool g_sigpipeIgnored = false;

// Writes the ring byte with SIGPIPE blocked for this thread, then takes back a SIGPIPE that the
// write raised (it is thread-directed, so it is pending on us) unless one was already pending.
ssize_t WriteMaskingSigpipe(int fd, const char* byte) {
  sigset_t pipeSet, oldSet, pending;
  sigemptyset(&pipeSet);
  sigaddset(&pipeSet, SIGPIPE);
  sigpending(&pending);
  bool wasPending = sigismember(&pending, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipeSet, &oldSet);
  ssize_t n = write(fd, byte, 1);
  int err = errno;
  if (n < 0 && err == EPIPE && !wasPending) {
    struct timespec zero = {0, 0};
    while (sigtimedwait(&pipeSet, nullptr, &zero) < 0 && errno == EINTR) {
    }
  }
  pthread_sigmask(SIG_SETMASK, &oldSet, nullptr);
  errno = err;
  return n;
}

// ring(fd) -> 1 (written), 0 (a ring was already pending), or -errno.
Napi::Value Ring(const Napi::CallbackInfo& info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  const char byte = 1;
  ssize_t n;
  do {
    n = g_sigpipeIgnored ? write(fd, &byte, 1) : WriteMaskingSigpipe(fd, &byte);
  } while (n < 0 && errno == EINTR);
  int result = n == 1 ? 1 : (errno == EAGAIN ? 0 : -errno);
  return Napi::Number::New(info.Env(), result);
}

// bellOpen(path) -> fd. O_WRONLY | O_NONBLOCK fails with ENXIO when nobody listens.
Napi::Value BellOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = info[0].As<Napi::String>();
  int fd = open(path.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) throw ErrnoError(env, "open", errno, path);
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISFIFO(st.st_mode)) {
    close(fd);
    throw CodeError(env, "SPLITBLK_ERR_NO_DOORBELL", path + " is not a FIFO");
  }
  return Napi::Number::New(env, fd);
}

// closeFd(fd): close a descriptor this addon opened.
Napi::Value CloseFd(const Napi::CallbackInfo& info) {
  close(info[0].As<Napi::Number>().Int32Value());
  return info.Env().Undefined();
}

}  // namespace

void RegisterDoorbell(Napi::Env env, Napi::Object exports) {
  struct sigaction current;
  g_sigpipeIgnored = sigaction(SIGPIPE, nullptr, &current) == 0 && current.sa_handler == SIG_IGN;
  exports.Set("DoorbellListener", DoorbellListener::Define(env));
  exports.Set("bellOpen", Napi::Function::New(env, BellOpen, "bellOpen"));
  exports.Set("ring", Napi::Function::New(env, Ring, "ring"));
  exports.Set("closeFd", Napi::Function::New(env, CloseFd, "closeFd"));
  exports.Set("sigpipeIgnored", Napi::Boolean::New(env, g_sigpipeIgnored));
}

}  // namespace splitblk
