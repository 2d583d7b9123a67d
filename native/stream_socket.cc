// Stream sockets served straight from uv_poll: read(2) into one caller-owned buffer and send(2)
// from JS buffers, with no libuv stream, no per-read allocation and no write requests.
//
// Node's net.Socket costs, per incoming chunk, a fresh Buffer and a pass through the Readable
// machinery, and per outgoing buffer a WriteWrap and the Writable machinery. A xenstored that
// answers one small request with one small reply (and a watch event on another connection)
// spends more time there than in its own work. Here a wake-up is: one read(2) into the
// receive buffer the caller gave at adoption, one call into JS with the byte count; JS handles
// the bytes before returning (the buffer is reused at the next read), and its replies go out
// with write() below, one send(2) each, synchronously.
//
// Backpressure stays in JS: write() reports a short send or EAGAIN, the caller keeps the rest,
// asks for pollWritable(true) and retries from onWritable.
#include "common.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

namespace splitblk {
namespace {

// What the loop owns. It outlives the JS object until uv_close's callback frees it.
struct Socket {
  uv_poll_t poll;
  int fd = -1;
  bool closed = false;
  bool wantWritable = false;
  uint8_t* recv = nullptr;
  size_t recvBytes = 0;
  napi_env env = nullptr;
  Napi::Reference<Napi::Uint8Array> recvRef;
  Napi::FunctionReference onRead;
  Napi::FunctionReference onWritable;
  napi_async_context context = nullptr;
};

// uv_close's callback: libuv has let go of the descriptor, so it may be closed now.
void FreeSocket(uv_handle_t* handle) {
  Socket* socket = static_cast<Socket*>(handle->data);
  if (socket->fd >= 0) close(socket->fd);
  delete socket;
}

// Stops polling; the JS side learns it from onRead(0) (peer gone or an error) or has asked.
void StopPolling(Socket* socket) {
  if (socket->closed) return;
  socket->closed = true;
  uv_poll_stop(&socket->poll);
}

void OnPoll(uv_poll_t* poll, int status, int events) {
  Socket* socket = static_cast<Socket*>(poll->data);
  Napi::Env env(socket->env);
  // We are called from libuv, not from JS: the argument numbers need a scope of their own.
  Napi::HandleScope scope(env);
  if (status < 0) {
    StopPolling(socket);
    CallFromLoop(env, socket->onRead, socket->context, {Napi::Number::New(env, 0)});
    return;
  }
  if ((events & UV_WRITABLE) != 0 && socket->wantWritable) {
    CallFromLoop(env, socket->onWritable, socket->context, {});
    // JS may have closed the socket from the callback; the struct lives until uv_close's callback.
    if (socket->closed) return;
  }
  if ((events & (UV_READABLE | UV_DISCONNECT)) == 0) return;
  ssize_t n;
  do {
    n = read(socket->fd, socket->recv, socket->recvBytes);
  } while (n < 0 && errno == EINTR);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
  // 0 is the peer's end of file; any other error (ECONNRESET) ends the connection alike.
  if (n <= 0) StopPolling(socket);
  CallFromLoop(env, socket->onRead, socket->context, {Napi::Number::New(env, n > 0 ? static_cast<double>(n) : 0)});
}

class StreamSocket : public Napi::ObjectWrap<StreamSocket> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "StreamSocket",
                       {InstanceMethod<&StreamSocket::Write>("write"),
                        InstanceMethod<&StreamSocket::PollWritable>("pollWritable"),
                        InstanceMethod<&StreamSocket::Close>("close")});
  }

  // new StreamSocket(fd, recv, onRead, onWritable): adopts a duplicate of the connected socket
  // `fd` (the caller closes its own), reads into `recv`, calls onRead(bytes) for each read
  // (0: the connection ended) and onWritable() when asked to with pollWritable(true).
  explicit StreamSocket(const Napi::CallbackInfo& info) : Napi::ObjectWrap<StreamSocket>(info) {
    Napi::Env env = info.Env();
    if (!info[0].IsNumber() || !info[1].IsTypedArray() || !info[2].IsFunction() || !info[3].IsFunction()) {
      throw Napi::TypeError::New(env, "(fd, recv: Uint8Array, onRead, onWritable)");
    }
    Napi::Uint8Array recv = info[1].As<Napi::Uint8Array>();
    if (recv.ByteLength() == 0) throw Napi::RangeError::New(env, "recv must not be empty");
    int fd = fcntl(info[0].As<Napi::Number>().Int32Value(), F_DUPFD_CLOEXEC, 0);
    if (fd < 0) throw ErrnoError(env, "fcntl", errno);
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
      int err = errno;
      close(fd);
      throw ErrnoError(env, "fcntl", err);
    }
    Socket* socket = new Socket();
    socket->fd = fd;
    socket->env = env;
    socket->poll.data = socket;
    socket->recv = recv.Data();
    socket->recvBytes = recv.ByteLength();
    socket->recvRef = Napi::Persistent(recv);
    socket->onRead = Napi::Persistent(info[2].As<Napi::Function>());
    socket->onWritable = Napi::Persistent(info[3].As<Napi::Function>());
    if (napi_async_init(env, Value(), Napi::String::New(env, "splitblk.streamSocket"), &socket->context) != napi_ok) {
      socket->context = nullptr;
      FreeSocket(reinterpret_cast<uv_handle_t*>(&socket->poll));
      throw Napi::Error::New(env, "napi_async_init failed");
    }
    int rc = uv_poll_init(LoopOf(env), &socket->poll, fd);
    if (rc != 0) {
      napi_async_destroy(env, socket->context);
      FreeSocket(reinterpret_cast<uv_handle_t*>(&socket->poll));  // never registered with libuv
      throw ErrnoError(env, "uv_poll_init", -rc);
    }
    rc = uv_poll_start(&socket->poll, UV_READABLE | UV_DISCONNECT, OnPoll);
    if (rc != 0) {
      napi_async_destroy(env, socket->context);
      uv_close(reinterpret_cast<uv_handle_t*>(&socket->poll), FreeSocket);
      throw ErrnoError(env, "uv_poll_start", -rc);
    }
    socket_ = socket;
    // An open connection keeps working when JS drops the object, like a net.Socket: hold the
    // wrapper strongly until close().
    Napi::ObjectWrap<StreamSocket>::Ref();
  }

  ~StreamSocket() override { Shutdown(); }

 private:
  // write(buf, offset, length) -> bytes sent (possibly fewer than length), or -errno (-EAGAIN:
  // the socket buffer is full). MSG_NOSIGNAL: a gone peer is EPIPE, not a signal.
  Napi::Value Write(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (socket_ == nullptr || socket_->closed) return Napi::Number::New(env, -EPIPE);
    Napi::Uint8Array buf = info[0].As<Napi::Uint8Array>();
    size_t offset = info[1].As<Napi::Number>().Uint32Value();
    size_t length = info[2].As<Napi::Number>().Uint32Value();
    if (offset > buf.ByteLength() || length > buf.ByteLength() - offset) throw Napi::RangeError::New(env, "range outside the buffer");
    ssize_t n;
    do {
      n = send(socket_->fd, buf.Data() + offset, length, MSG_DONTWAIT | MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    return Napi::Number::New(env, n >= 0 ? static_cast<double>(n) : -errno);
  }

  // pollWritable(on): call onWritable when the socket can take more bytes (level-triggered:
  // until turned off again).
  Napi::Value PollWritable(const Napi::CallbackInfo& info) {
    bool on = info[0].ToBoolean().Value();
    if (socket_ != nullptr && !socket_->closed && socket_->wantWritable != on) {
      socket_->wantWritable = on;
      int events = UV_READABLE | UV_DISCONNECT | (on ? UV_WRITABLE : 0);
      int rc = uv_poll_start(&socket_->poll, events, OnPoll);
      if (rc != 0) throw ErrnoError(info.Env(), "uv_poll_start", -rc);
    }
    return info.Env().Undefined();
  }

  // close(): stop at once; the peer sees end of file now (shutdown), the descriptor goes when
  // libuv has let go of it. Idempotent.
  Napi::Value Close(const Napi::CallbackInfo& info) {
    if (socket_ != nullptr) {
      Shutdown();
      Napi::ObjectWrap<StreamSocket>::Unref();
    }
    return info.Env().Undefined();
  }

  void Shutdown() {
    if (socket_ == nullptr) return;
    Socket* socket = socket_;
    socket_ = nullptr;
    StopPolling(socket);
    shutdown(socket->fd, SHUT_RDWR);
    socket->onRead.Reset();
    socket->onWritable.Reset();
    socket->recvRef.Reset();
    socket->recv = nullptr;
    if (socket->context != nullptr) napi_async_destroy(socket->env, socket->context);
    socket->context = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(&socket->poll), FreeSocket);
  }

  Socket* socket_ = nullptr;
};

}  // namespace

void RegisterStreamSocket(Napi::Env env, Napi::Object exports) {
  exports.Set("StreamSocket", StreamSocket::Define(env));
}

}  // namespace splitblk
